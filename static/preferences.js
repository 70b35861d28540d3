// Text size and contrast apply at once; the server keeps them for every device the person uses.
(function () {
  const form = document.querySelector("form.display-prefs");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter;
    const data = new FormData(form);
    data.append(button.name, button.value);
    const response = await fetch(form.action, {
      method: "POST", body: data, headers: { Accept: "application/json" }, credentials: "same-origin",
    });
    if (!response.ok) return;
    const prefs = await response.json();
    const root = document.documentElement;
    root.dataset.scale = prefs.font_scale;
    root.classList.toggle("contrast", prefs.high_contrast);
    const contrast = form.querySelector("button[name=high_contrast]");
    contrast.value = prefs.high_contrast ? "0" : "1";
    contrast.setAttribute("aria-pressed", String(prefs.high_contrast));
  });
})();
