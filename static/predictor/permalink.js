// A result page may arrive as the answer to the form's POST. Give the page the result's own address, so
// that a reload or a bookmark reads the stored prediction instead of sending the form again.
const result = document.querySelector("[data-permalink]");
if (result && window.location.pathname !== result.dataset.permalink) {
  window.history.replaceState(null, "", result.dataset.permalink);
}
