// Herald's own scripts, kept out of the pages so that the Content-Security-Policy can refuse any inline script.
// Every page works without them; they only make some forms smoother.
(function () {
  "use strict";

  // A button with data-confirm asks before it submits its form.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  // Robot form: show only what the chosen kind uses (without JavaScript every field shows, and the server
  // ignores the rest); a new robot's address field shows an example address of its kind.
  function robotForm(form) {
    var kind = form.querySelector("#kind");
    var url = form.querySelector("#webhook_url");
    var examples = form.hasAttribute("data-examples") ? JSON.parse(form.getAttribute("data-examples")) : null;
    function update() {
      var style = form.querySelector('input[name="style"]:checked');
      form.querySelectorAll("[data-kinds]").forEach(function (element) {
        var kinds = element.getAttribute("data-kinds").split(" ");
        var wanted = element.getAttribute("data-style");
        element.hidden = kinds.indexOf(kind.value) < 0 || (wanted && (!style || style.value !== wanted));
      });
      if (examples && url) {
        url.placeholder = examples[kind.value] || "";
      }
    }
    form.addEventListener("change", update);
    update();
  }

  // Mail settings: choosing a well-known port proposes its security mode (the user can still change it).
  function mailForm(form) {
    var port = form.querySelector("#port");
    port.addEventListener("change", function () {
      var mode = {"465": "ssl", "587": "starttls", "25": "none"}[port.value.trim()];
      var radio = mode && form.querySelector('#security input[value="' + mode + '"]');
      if (radio) {
        radio.checked = true;
      }
    });
  }

  function start() {
    var robot = document.getElementById("robot-form");
    if (robot) {
      robotForm(robot);
    }
    var mail = document.getElementById("mail-form");
    if (mail) {
      mailForm(mail);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
