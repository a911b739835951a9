// The what-if's sliders: each says the value it stands for as it moves (its output and its
// aria-valuetext). htmx sends the form as they move (debounced) and swaps in the answer.
(function () {
  "use strict";

  function say(slider) {
    var labels = JSON.parse(slider.dataset.labels);
    var label = labels[Number(slider.value)] || "";
    slider.setAttribute("aria-valuetext", label);
    var output = document.getElementById(slider.dataset.output);
    if (output) { output.textContent = label; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("whatif-form");
    if (!form) { return; }
    form.addEventListener("input", function (event) {
      if (event.target && event.target.matches("input[type=range]")) { say(event.target); }
    });
  });
})();
