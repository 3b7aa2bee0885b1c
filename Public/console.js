// The node page's Console panel: xterm.js (Debian's libjs-xterm, 3.x API) over the portal's WebSocket relay of the
// node's serial console. Binary frames are the console's bytes and the keys typed; text frames are the relay's
// notices, keyboard changes and end, as JSON.
(function () {
  "use strict";
  const panel = document.getElementById("console");
  // deploy/xterm.sh's bundle of Debian's xterm.js exports it as XTermModule.
  const Terminal = window.XTermModule && window.XTermModule.Terminal;
  if (!panel || !Terminal) return;
  const state = document.getElementById("console-state");
  const connect = document.getElementById("console-connect");
  const disconnect = document.getElementById("console-disconnect");
  const takeover = document.getElementById("console-takeover");
  const transcript = document.getElementById("console-transcript");
  const encoder = new TextEncoder();
  let terminal = null, socket = null, decoder = null, ended = null;

  function say(text) { state.textContent = text; }
  // What the terminal draws on its canvas, as text: for copying, assistive tools and tests. The last 64 KiB.
  function keep(text) {
    transcript.textContent = (transcript.textContent + text).slice(-65536);
  }
  function show(text) { terminal.write(text); keep(text); }

  function open() {
    if (!terminal) {
      terminal = new Terminal({ cols: 100, rows: 30, scrollback: 5000 });
      terminal.open(document.getElementById("terminal"));
      terminal.on("data", function (data) {
        if (socket && socket.readyState === WebSocket.OPEN && panel.dataset.keyboard === "mine") socket.send(encoder.encode(data));
      });
    }
    decoder = new TextDecoder();
    ended = null;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + location.host + panel.dataset.socket + (takeover && takeover.checked ? "?takeover=1" : ""));
    socket.binaryType = "arraybuffer";
    say("Connecting…");
    connect.disabled = true;
    socket.onopen = function () { disconnect.disabled = false; terminal.focus(); };
    socket.onmessage = function (event) {
      if (typeof event.data !== "string") {
        show(decoder.decode(new Uint8Array(event.data), { stream: true }));
        return;
      }
      const message = JSON.parse(event.data);
      if (message.notice) show("\r\n\x1b[33m[" + message.notice + "]\x1b[0m\r\n");
      if (message.keyboard) {
        panel.dataset.keyboard = message.keyboard.mine ? "mine" : "read-only";
        say(message.keyboard.mine ? "Connected: you have the keyboard."
          : "Connected, read-only: " + (message.keyboard.holder || "nobody") + " has the keyboard.");
      }
      if (message.ended) ended = message.ended;
    };
    socket.onclose = function () {
      say(ended ? "Closed: " + ended + "." : "Disconnected.");
      delete panel.dataset.keyboard;
      connect.disabled = false;
      disconnect.disabled = true;
      socket = null;
    };
  }

  // Whether the console will show the boot: the BIOS's redirection and the BMC's settings, asked of the BMC.
  const readiness = document.getElementById("console-readiness");
  fetch(readiness.dataset.url, { credentials: "same-origin" })
    .then(function (answer) { return answer.ok ? answer.json() : Promise.reject(answer.status); })
    .then(function (said) {
      readiness.textContent = "Serial console: " + said.summary + (said.setup ? " — an administrator runs `" + said.setup + "` (applied at the next reboot)." : "");
      readiness.dataset.ready = said.ready ? "yes" : "no";
    })
    .catch(function () { readiness.textContent = "Serial console: its settings could not be read from the BMC."; });

  connect.addEventListener("click", open);
  disconnect.addEventListener("click", function () { if (socket) socket.close(); });
})();
