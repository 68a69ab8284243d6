// Copy buttons of the setup page (templates/setup/page.html). Without JavaScript the buttons
// stay hidden and the values remain selectable in their read-only fields.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var status = document.getElementById("copy-status");
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      var done = function () {
        button.textContent = "Copied";
        if (status) { status.textContent = field.labels[0].textContent + " copied"; }
        window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
      } else {
        field.select();
        document.execCommand("copy");
        done();
      }
    });
  });
});
