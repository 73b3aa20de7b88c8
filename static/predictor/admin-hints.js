// The admin's translated scroll hint, for admin.css (its --scroll-hint). Set from here because the
// Content-Security-Policy refuses inline <style>; setting a property through the CSSOM is allowed.
const hint = document.currentScript.dataset.scrollHint;
if (hint) document.documentElement.style.setProperty("--scroll-hint", JSON.stringify(hint));
