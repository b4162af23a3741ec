// keyport portal: copy buttons only (progressive enhancement; every page works without this script).
// An element with `data-copy="ID"` copies the text of element ID and says so in its live region.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-status"));
    if (!target || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        if (status) status.textContent = "Copied to the clipboard.";
      }, function () {
        if (status) status.textContent = "Copying did not work: select the token and copy it by hand.";
      });
    });
  });
});
