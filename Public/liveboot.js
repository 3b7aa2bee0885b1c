// liveboot pages: small progressive enhancements. Every page works without this script; with it, the node table
// refreshes itself, buttons ask for confirmation, and an operation's steps stream in live.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
});

// The dashboard's rows and a multi-node run's grid: fetched again every refresh period, replaced in place; a
// fragment that says it is done ([data-done]) stops its refresh.
for (const region of document.querySelectorAll("[data-refresh]")) {
  const seconds = Math.max(1, Number(region.dataset.seconds) || 30);
  const timer = setInterval(async () => {
    try {
      const answer = await fetch(region.dataset.refresh, { credentials: "same-origin" });
      if (answer.ok) region.innerHTML = await answer.text();
      if (region.querySelector("[data-done]")) clearInterval(timer);
    } catch (_) { /* the next round will try again */ }
  }, seconds * 1000);
}

// A key file chosen in the form is read here, so that what is sent is visible in the text area first.
const keyForm = document.getElementById("key-form");
if (keyForm) {
  const file = keyForm.querySelector("input[type=file]");
  const text = keyForm.querySelector("textarea");
  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    const content = await file.files[0].text();
    text.value = (text.value.trim() ? text.value.trim() + "\n" : "") + content.trim();
    file.value = "";
  });
}

// A running operation: Server-Sent Events, one per step, then "done".
const operation = document.getElementById("operation");
if (operation && operation.dataset.state === "running") {
  const steps = document.getElementById("steps");
  const state = document.getElementById("operation-state");
  const source = new EventSource(operation.dataset.events);
  const seen = new Set(Array.from(steps.children).map((li) => li.dataset.id).filter(Boolean));
  steps.replaceChildren();
  source.addEventListener("step", (event) => {
    const step = JSON.parse(event.data);
    if (step.id && seen.has(String(step.id)) && steps.querySelector(`[data-id="${step.id}"]`)) return;
    const li = document.createElement("li");
    li.dataset.id = step.id;
    if (step.isError) li.className = "ko";
    const time = document.createElement("span");
    time.className = "t";
    time.textContent = step.elapsed.toFixed(1) + " s";
    li.append(time, " " + step.message);
    steps.append(li);
  });
  source.addEventListener("done", (event) => {
    source.close();
    const done = JSON.parse(event.data);
    state.textContent = done.state;
    state.className = "badge " + ({ succeeded: "ok", failed: "ko", interrupted: "off" }[done.state] || "na");
    if (done.sshCommand) {
      const line = document.getElementById("ssh-line");
      line.querySelector("code").textContent = done.sshCommand;
      const keys = done.hostKeys || [];
      const fingerprints = document.getElementById("fingerprints");
      fingerprints.replaceChildren();
      for (const key of keys) {
        const code = document.createElement("code");
        code.textContent = key.fingerprint;
        fingerprints.append(code, " (" + key.key.split(" ")[0] + ") ");
      }
      document.getElementById("known-hosts").textContent =
        keys.map((key) => line.dataset.knownHostsName + " " + key.key).join("\n") + (keys.length ? "\n" : "");
      line.hidden = false;
    } else if (done.message) {
      const error = document.getElementById("operation-error");
      error.textContent = done.message;
      error.hidden = false;
    }
    if (done.screenshotAt) {
      const figure = document.getElementById("screenshot");
      const link = document.createElement("a");
      const image = document.createElement("img");
      link.href = image.src = "/operations/" + done.id + "/screenshot.png";
      image.alt = "The server's screen when the operation failed";
      link.append(image);
      figure.prepend(link);
      figure.hidden = false;
    }
    operation.dataset.state = done.state;
    // The server probed the node as the operation left it: show that status without reloading the page.
    fetch(location.href, { credentials: "same-origin" }).then((answer) => answer.text()).then((html) => {
      const page = new DOMParser().parseFromString(html, "text/html");
      // The node's status as the operation left it, what its BMC read of the media, its boots and history since.
      for (const id of ["status-card", "media-read", "console-log", "boot-stats", "history"]) {
        const fresh = page.getElementById(id);
        const old = document.getElementById(id);
        if (fresh && old) old.replaceWith(fresh);
      }
    }).catch(() => {});
  });
}

// The slice page: one box ticks or unticks every node held.
const allHeld = document.getElementById("all-held");
if (allHeld) {
  const boxes = () => document.querySelectorAll('input[name="nodes[]"][form="run-form"]');
  allHeld.checked = Array.from(boxes()).every((box) => box.checked);
  allHeld.addEventListener("change", () => { for (const box of boxes()) box.checked = allHeld.checked; });
}
