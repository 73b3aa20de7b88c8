// Leaves empty filters out of the URL, so a bookmarked or shared link shows only the filters in
// use. Without JavaScript the form submits every field, empty ones included, and works the same.
(function () {
  "use strict";
  var form = document.querySelector("form.filters");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (value !== "") params.append(name, value);
    });
    event.preventDefault();
    var query = params.toString();
    window.location.assign(form.action + (query ? "?" + query : ""));
  });
})();
