// The training chat. Every trainee action gets an id and waits in localStorage until the server
// acknowledges it, so a reload or a dropped connection resends it; the server stores it once.
// All text is set with textContent: whatever a message contains is shown, never run.
(function () {
  const chat = document.getElementById("chat");
  if (!chat) return;
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("answer");
  const announcer = document.getElementById("announcer");
  const problem = document.getElementById("problem");
  const connection = document.getElementById("connection");
  const outboxKey = "reme-outbox-" + chat.dataset.session;
  let socket = null;
  let retryMs = 500;

  // NUL can't be stored: an outbox item holding one would be refused on every reconnect, so none is kept.
  const clean = (text) => String(text || "").replaceAll("\u0000", "");
  const outbox = {
    load: () => JSON.parse(localStorage.getItem(outboxKey) || "[]").map((item) => ({ ...item, text: clean(item.text) })),
    save: (items) => localStorage.setItem(outboxKey, JSON.stringify(items)),
    add(item) { this.save([...this.load(), item]); },
    remove(clientId) {
      const items = this.load();
      const gone = items.find((item) => item.client_id === clientId);
      this.save(items.filter((item) => item.client_id !== clientId));
      return gone;
    },
  };

  function lastSeq() {
    const seqs = [...log.querySelectorAll("[data-seq]")].map((li) => Number(li.dataset.seq));
    return seqs.length ? Math.max(...seqs) : 0;
  }

  // Reading aloud with the browser's own speech synthesis: nothing leaves the device. Where the browser has none,
  // the buttons and the setting stay hidden.
  const speech = "speechSynthesis" in window ? window.speechSynthesis : null;
  if (speech) chat.querySelector(".read-aloud-pref").hidden = false;

  function speak(text) {
    if (!speech || !text) return;
    speech.cancel(); // the newest message replaces whatever was being read
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = document.documentElement.lang || "en";
    utterance.rate = 0.9;
    speech.speak(utterance);
  }

  function addSpeakButton(li) {
    if (!speech || li.querySelector(".speak")) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "speak";
    button.textContent = "Read aloud";
    button.addEventListener("click", () => speak(li.querySelector(".text").textContent));
    li.querySelector(".who").append(button);
  }

  function readNew(text) {
    if (document.documentElement.dataset.readAloud === "true") speak(text);
  }

  function bubble(role, text) {
    const li = document.createElement("li");
    li.className = "bubble " + role;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "bot" ? "ReMe" : "You";
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.append(who, body);
    if (role === "bot") addSpeakButton(li);
    return li;
  }

  // A reply being prepared shows the typing indicator until its first words arrive: never an empty bubble.
  function markTyping(li) {
    const busy = li.getAttribute("aria-busy") === "true";
    li.classList.toggle("typing", busy && !li.querySelector(".text").textContent);
  }

  // The progress line moves only when the next puzzle is shown: while a reply is still being written,
  // the newest state waits here.
  let waitingState = null;

  function replyBeingWritten() { return log.querySelector('.bubble.bot[aria-busy="true"]') !== null; }

  function showProgress(state) {
    document.getElementById("progress").textContent =
      state.status === "ended" ? "Finished" : `Puzzle ${state.puzzle_index} of ${state.puzzles_planned}`;
  }

  function placeInOrder(li, seq) {
    li.dataset.seq = seq;
    const later = [...log.querySelectorAll("[data-seq]")].find((other) => Number(other.dataset.seq) > seq);
    log.insertBefore(li, later || log.querySelector(".pending"));
  }

  // Down to the newest message, but never past the start of the latest bot message: when it is taller than the
  // conversation area (large text, a small screen), its question is read from the top.
  function scrollDown() {
    log.scrollTop = log.scrollHeight;
    const bots = log.querySelectorAll("li.bot");
    const latest = bots[bots.length - 1];
    if (latest && latest.offsetTop < log.scrollTop) log.scrollTop = latest.offsetTop;
  }

  // The chat takes the height below the header (--above-chat); if large text leaves too little, it takes the
  // whole viewport and the window scrolls so the conversation and the input are in view.
  const header = document.querySelector("header.top");
  function fit() {
    chat.style.setProperty("--above-chat", (header ? header.offsetHeight : 0) + "px");
    if (chat.getBoundingClientRect().bottom > window.innerHeight + 1) chat.scrollIntoView({ block: "end" });
    scrollDown();
  }

  function announce(text) { announcer.textContent = text; }

  function showMessage(message) {
    let li = log.querySelector(`[data-seq="${message.seq}"]`);
    const isNew = !li;
    if (isNew) {
      li = bubble(message.role, message.text);
      placeInOrder(li, message.seq);
    } else {
      li.querySelector(".text").textContent = message.text;
    }
    li.setAttribute("aria-busy", String(message.status === "streaming"));
    markTyping(li);
    if (message.role === "bot" && isNew) {
      announce(message.status === "streaming" ? "ReMe is replying…" : "ReMe says: " + message.text);
      if (message.status !== "streaming") readNew(message.text);
    }
    scrollDown();
  }

  function applyToken(event) {
    const li = log.querySelector(`[data-seq="${event.seq}"]`);
    if (!li) return;
    const body = li.querySelector(".text");
    if (event.offset > body.textContent.length) return; // a later snapshot will bring it
    body.textContent = body.textContent.slice(0, event.offset) + event.text;
    markTyping(li);
    scrollDown();
  }

  function finish(event) {
    const li = log.querySelector(`[data-seq="${event.seq}"]`);
    if (!li) return;
    li.querySelector(".text").textContent = event.text;
    li.setAttribute("aria-busy", "false");
    markTyping(li);
    announce("ReMe says: " + event.text);
    readNew(event.text);
    if (waitingState && !replyBeingWritten()) {
      showProgress(waitingState);
      waitingState = null;
    }
    scrollDown();
  }

  function applyState(state) {
    const active = state.status === "active";
    form.hidden = !active;
    for (const action of ["hint", "skip", "pause"]) chat.querySelector(`[data-action=${action}]`).hidden = !active;
    chat.querySelector("[data-action=resume]").hidden = state.status !== "paused";
    document.getElementById("finished-link").hidden = state.status !== "ended";
    if (replyBeingWritten()) waitingState = state;
    else showProgress(state);
    const notice = document.getElementById("context-notice");
    notice.textContent = state.context_notice || "";
    notice.dataset.context = state.context || "";
    notice.hidden = !state.context_notice;
  }

  function send(item) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "action", ...item }));
  }

  function act(kind, text) {
    problem.textContent = "";
    const item = { client_id: crypto.randomUUID(), kind, text: clean(text) };
    outbox.add(item);
    const li = bubble("trainee", kind === "text" ? text : "…");
    li.classList.add("pending");
    li.dataset.clientId = item.client_id;
    log.appendChild(li);
    scrollDown();
    send(item);
  }

  function onEvent(event) {
    if (event.type === "message") showMessage(event.message);
    else if (event.type === "token") applyToken(event);
    else if (event.type === "done") finish(event);
    else if (event.type === "state") applyState(event);
    else if (event.type === "notice") {
      const notice = document.getElementById("assistant-notice");
      notice.textContent = event.text;
      notice.hidden = !event.text;
    }
    else if (event.type === "ack") {
      outbox.remove(event.client_id);
      const pending = log.querySelector(`[data-client-id="${event.client_id}"]`);
      if (pending) {
        pending.classList.remove("pending");
        if (log.querySelector(`[data-seq="${event.seq}"]`)) pending.remove();
        else placeInOrder(pending, event.seq);
      }
    } else if (event.type === "refused") {
      const item = outbox.remove(event.client_id);
      log.querySelector(`[data-client-id="${event.client_id}"]`)?.remove();
      if (item && item.kind === "text" && !input.value) input.value = item.text; // nothing typed is lost
      problem.textContent = event.error;
    } else if (event.type === "error") problem.textContent = event.error;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + chat.dataset.ws);
    socket.addEventListener("open", () => {
      retryMs = 500;
      chat.dataset.connected = "true";
      connection.hidden = true;
      socket.send(JSON.stringify({ type: "hello", after_seq: lastSeq() }));
      for (const item of outbox.load()) send(item);
    });
    socket.addEventListener("message", (message) => onEvent(JSON.parse(message.data)));
    socket.addEventListener("close", (event) => {
      chat.dataset.connected = "false";
      if (event.code === 4403 || event.code === 4401) {
        connection.textContent = event.code === 4401 ? "You have logged out. Please log in again to carry on."
          : "You can't open this session.";
        connection.hidden = false;
        return;
      }
      connection.textContent = "Reconnecting… your answers are kept and will be sent.";
      connection.hidden = false;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 8000);
    });
  }

  // Answers typed before a reload that never reached the server are shown again as pending.
  for (const item of outbox.load()) {
    const li = bubble("trainee", item.kind === "text" ? item.text : "…");
    li.classList.add("pending");
    li.dataset.clientId = item.client_id;
    log.appendChild(li);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = clean(input.value).trim();
    if (!text) {
      problem.textContent = "Please type an answer first. If you're not sure, press “Give me a clue”.";
      input.focus();
      return;
    }
    act("text", text);
    input.value = "";
    input.focus();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("focus", () => setTimeout(() => input.scrollIntoView({ block: "nearest" }), 300));
  for (const button of chat.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => act(button.dataset.action));
  }
  for (const li of log.querySelectorAll("li.bot")) addSpeakButton(li);
  if (window.ResizeObserver && header) new ResizeObserver(fit).observe(header);
  window.addEventListener("resize", fit);
  fit();
  connect();
})();
