// Live import progress over the Channels WebSocket; the page stays correct without it on reload.
document.querySelectorAll("tr[data-job]").forEach((row) => {
  const cell = row.querySelector(".job-status");
  if (!/queued|running/.test(cell.textContent)) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/imports/${row.dataset.job}/`);
  socket.onmessage = (event) => {
    const state = JSON.parse(event.data);
    cell.textContent = state.label;
    if (state.status === "done" || state.status === "failed") {
      socket.close();
      location.reload();
    }
  };
});
