// Text size, contrast and reading aloud apply at once; the server keeps them for every device the person uses.
(function () {
  const root = document.documentElement;
  function applyToggle(name, on) {
    for (const button of document.querySelectorAll(`form.display-prefs button[name=${name}]`)) {
      button.value = on ? "0" : "1";
      button.setAttribute("aria-pressed", String(on));
    }
  }
  let queue = Promise.resolve();  // taps are sent one after another, so the last answer is the newest state
  for (const form of document.querySelectorAll("form.display-prefs")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = event.submitter;
      const data = new FormData(form);
      data.append(button.name, button.value);
      queue = queue.then(() => send(form, data)).catch(() => {});
    });
  }
  async function send(form, data) {
    const response = await fetch(form.action, {
      method: "POST", body: data, headers: { Accept: "application/json" }, credentials: "same-origin",
    });
    if (!response.ok) return;
    const prefs = await response.json();
    root.dataset.scale = prefs.font_scale;
    root.classList.toggle("contrast", prefs.high_contrast);
    root.dataset.readAloud = String(prefs.read_aloud);
    applyToggle("high_contrast", prefs.high_contrast);
    applyToggle("read_aloud", prefs.read_aloud);
  }
})();
