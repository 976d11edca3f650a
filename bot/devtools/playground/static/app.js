// The playground page: shows what Slack would show, and sends what Slack would send.
// HTML comes only from the server's renderer (which escapes everything it is given);
// anything else reaches the page as text (textContent), never as markup.
"use strict";

const page = {
  person: "U0ALICE",
  conversation: null,
  thread: null,
  cflowOpen: false,
  stepsOpen: false,
  draft: null,  // the composer's link preview (Slack's unfurl_id), until it is sent
};
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const text = await response.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch (_) { data = { error: text }; }
  if (!response.ok) { throw new Error(data.error || text || String(response.status)); }
  return data;
}

function parsed(element, name) {
  const raw = element.dataset[name];
  return raw ? JSON.parse(raw) : null;
}

// -- what one person sees --------------------------------------------------------------

let refreshing = null;
let again = false;

async function refresh() {
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => {
    try {
      do {
        again = false;
        await draw();
        if (page.cflowOpen) { await drawCflow(); }
        if (page.stepsOpen) { await drawSteps(); }
      } while (again);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function draw() {
  const query = new URLSearchParams({ user: page.person, conversation: page.conversation });
  if (page.thread) { query.set("thread", page.thread); }
  if (page.draft) { query.set("draft", page.draft); }
  const view = await api("/api/view?" + query.toString());
  const messages = $("messages");
  const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
  if (view.conversation === "home") {
    messages.innerHTML = view.home || "<p class=\"hint\">Nothing published here yet.</p>";
  } else {
    messages.innerHTML = (view.messages || []).join("");
    if (atBottom) { messages.scrollTop = messages.scrollHeight; }
  }
  $("composer").hidden = view.conversation === "home";
  $("composer-preview").innerHTML = view.draft || "";
  $("composer-preview").hidden = !view.draft || view.conversation === "home";
  $("thread").hidden = !view.thread;
  $("thread-messages").innerHTML = (view.thread || []).join("");
  drawModal(view.modal || null);
}

function drawModal(html) {
  const layer = $("modal-layer");
  const open = layer.querySelector("form.modal");
  if (!html) { layer.hidden = true; layer.innerHTML = ""; return; }
  // Keep what the person is typing when the same modal is drawn again unchanged.
  const holder = document.createElement("div");
  holder.innerHTML = html;
  const next = holder.querySelector("form.modal");
  if (open && next && open.outerHTML === next.outerHTML) { layer.hidden = false; return; }
  layer.innerHTML = html;
  layer.hidden = false;
}

function title() {
  const current = document.querySelector(`.conv[data-conversation="${page.conversation}"]`);
  $("title").textContent = current ? current.textContent : "";
  document.querySelectorAll(".conv").forEach((b) => b.classList.toggle("current", b === current));
}

async function start() {
  const world = await api("/api/world");
  for (const person of world.people) {
    const option = document.createElement("option");
    option.value = person.id;
    option.textContent = person.name;
    $("person").append(option);
  }
  for (const channel of world.channels) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "conv";
    button.dataset.conversation = channel.id;
    button.textContent = "# " + channel.name;
    item.append(button);
    $("channels").append(item);
  }
  page.conversation = world.channels[0].id;
  $("line").placeholder = `Type /cflow help, or paste a request link such as ${world.request_link}`;
  $("person").value = page.person;
  title();
  await refresh();
  const events = new EventSource("/api/events");
  events.onopen = () => refresh();  // what changed before it connected is drawn too
  events.onmessage = () => refresh();
}

// -- what the person does ---------------------------------------------------------------

function where(element) {
  const view = element.closest("[data-view-id]");
  if (view) { return { view_id: view.dataset.viewId, values: values(view) }; }
  const message = element.closest("article.message");
  const unfurl = element.closest("[data-unfurl-url]");
  const clicked = { conversation: page.conversation, ts: message ? message.dataset.ts : null };
  return unfurl ? { ...clicked, unfurl: unfurl.dataset.unfurlUrl } : clicked;
}

async function act(element, extra) {
  const action = parsed(element, "action");
  if (!action) { return; }
  const confirm = parsed(element, "confirm");
  if (confirm && !(await confirmed(confirm))) { return; }
  const sent = { user: page.person, action, ...where(element), ...extra };
  try {
    await api("/api/act", sent);
    $("hint").textContent = "";
  } catch (error) {
    $("hint").textContent = "The bot did not take that: " + error.message;
  }
}

function confirmed(dialog) {
  const text = (part) => (part && part.text) || "";
  $("confirm-title").textContent = text(dialog.title) || "Are you sure?";
  $("confirm-text").textContent = text(dialog.text);
  $("confirm-yes").textContent = text(dialog.confirm) || "Yes";
  $("confirm-deny").textContent = text(dialog.deny) || "Cancel";
  const box = $("confirm");
  return new Promise((resolve) => {
    const done = (answer) => { box.close(); resolve(answer); };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-deny").onclick = () => done(false);
    box.oncancel = () => resolve(false);
    box.showModal();
  });
}

// Slack's view.state.values: {block_id: {action_id: state}} for every input of a view.
function values(view) {
  const state = {};
  view.querySelectorAll("[data-input]").forEach((element) => {
    const input = parsed(element, "input");
    const block = (state[input.block_id] = state[input.block_id] || {});
    block[input.action_id] = inputState(element, input.type);
  });
  return state;
}

function inputState(element, type) {
  const chosen = (nodes) => [...nodes].map((node) => parsed(node, "option")).filter(Boolean);
  if (type === "checkboxes") {
    return { type, selected_options: chosen(element.querySelectorAll("input:checked")) };
  }
  if (type === "radio_buttons") {
    const [option] = chosen(element.querySelectorAll("input:checked"));
    return { type, selected_option: option || null };
  }
  if (type.startsWith("multi_")) {
    return { type, selected_options: chosen(element.selectedOptions) };
  }
  if (type === "users_select") { return { type, selected_user: element.value || null }; }
  if (type === "conversations_select") { return { type, selected_conversation: element.value || null }; }
  if (type === "channels_select") { return { type, selected_channel: element.value || null }; }
  if (type === "datepicker") { return { type, selected_date: element.value || null }; }
  if (type === "timepicker") { return { type, selected_time: element.value || null }; }
  if (element.tagName === "SELECT") {
    const [option] = chosen(element.selectedOptions);
    return { type, selected_option: option || null };
  }
  return { type, value: element.value === "" ? null : element.value };
}

document.addEventListener("click", (event) => {
  const target = event.target;
  if (target.closest("#composer-preview")) {  // a preview in the composer only shows
    event.preventDefault();
    return;
  }
  const shortcut = target.closest("[data-shortcut]");
  if (shortcut) {  // a message's "…" menu: Slack's message shortcut, with that message
    event.preventDefault();
    shortcut.closest("details").open = false;
    const message = shortcut.closest("article.message");
    runShortcut({ callback_id: shortcut.dataset.shortcut, conversation: page.conversation,
      ts: message.dataset.ts });
    return;
  }
  const conversation = target.closest(".conv[data-conversation]");
  if (conversation) {
    page.conversation = conversation.dataset.conversation;
    page.thread = null;
    title();
    openedHome().then(refresh);
    return;
  }
  const thread = target.closest("[data-thread]");
  if (thread) {
    event.preventDefault();
    page.thread = thread.dataset.thread;
    refresh();
    return;
  }
  const item = target.closest(".bk-menu-item");
  if (item) {
    const menu = item.closest("[data-action]");
    if (menu) { menu.open = false; act(menu, { option: parsed(item, "option") }); }
    if (item.tagName !== "A") { event.preventDefault(); }
    return;
  }
  const viewAction = target.closest("[data-view-action='close']");
  if (viewAction) {
    const view = viewAction.closest("[data-view-id]");
    api("/api/close", { user: page.person, view_id: view.dataset.viewId }).then(refresh);
    return;
  }
  const button = target.closest("button[data-action], a[data-action]");
  if (button) {
    if (button.tagName === "BUTTON") { event.preventDefault(); }
    act(button, {});
  }
});

document.addEventListener("change", (event) => {
  const element = event.target;
  if (element.closest("[data-input]")) { return; }  // read when the modal is submitted
  const control = element.closest("[data-action]");
  if (!control) { return; }
  if (control.tagName === "SELECT") {
    const [option] = [...control.selectedOptions].map((o) => parsed(o, "option"));
    act(control, { option });
  } else if (element.type === "checkbox") {
    const options = [...control.querySelectorAll("input:checked")].map((i) => parsed(i, "option"));
    act(control, { options });
  } else if (element.type === "radio") {
    act(control, { option: parsed(element, "option") });
  } else {
    act(control, { selected: element.value });
  }
});

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.matches("form.modal")) { return; }
  event.preventDefault();
  const sent = { user: page.person, view_id: form.dataset.viewId, values: values(form) };
  try {
    await api("/api/submit", sent);
  } catch (error) {
    $("hint").textContent = "The bot did not take that: " + error.message;
  }
  $("modal-layer").innerHTML = "";  // drawn afresh: the next modal, its errors, or none
  refresh();
});

// Slack tells the app each time someone opens its Home tab; the app then publishes it.
async function openedHome() {
  if (page.conversation === "home") { await api("/api/home", { user: page.person }); }
}

$("person").addEventListener("change", () => {
  page.person = $("person").value;
  page.thread = null;
  openedHome().then(refresh);
});

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("line").value;
  if (!text.trim()) { return; }
  const said = { user: page.person, conversation: page.conversation, text };
  try {
    // `/cflow …` is Slack's slash command; anything else a message of the person's own.
    const answer = await api(text.trim().startsWith("/") ? "/api/command" : "/api/say", said);
    $("hint").textContent = answer.hint || "";
    if (!answer.hint) { $("line").value = ""; composed = ""; page.draft = null; refresh(); }
  } catch (error) {
    $("hint").textContent = "The bot did not take that: " + error.message;
  }
});

// A link pasted or typed in the composer: Slack tells the app at once (source "composer").
let composed = "";
$("line").addEventListener("input", async () => {
  const text = $("line").value;
  const links = (text.match(/https?:\/\/\S+/g) || []).join(" ");
  if (links === composed) { return; }
  composed = links;
  page.draft = null;
  if (links) {
    const answer = await api("/api/compose", {
      user: page.person, conversation: page.conversation, text,
    });
    page.draft = answer.draft || null;
  }
  refresh();
});

$("close-thread").addEventListener("click", () => { page.thread = null; refresh(); });

async function runShortcut(sent) {
  try {
    await api("/api/shortcut", { user: page.person, ...sent });
    $("hint").textContent = "";
  } catch (error) {
    $("hint").textContent = "The bot did not take that: " + error.message;
  }
}

// The composer's ⚡: the app's global shortcut, reachable from anywhere.
$("global-shortcut").addEventListener("click", () => runShortcut({ callback_id: "cflow_new_request" }));

// -- the Cflow panel: Cflow's own web app, on the sandbox --------------------------------

$("open-cflow").addEventListener("click", () => {
  page.cflowOpen = true;
  $("cflow").hidden = false;
  drawCflow();
});
$("close-cflow").addEventListener("click", () => { page.cflowOpen = false; $("cflow").hidden = true; });

let workflowsListed = false;

async function drawCflow() {
  const cflow = await api("/api/cflow");
  if (!workflowsListed) {
    for (const workflow of cflow.workflows) {
      const option = document.createElement("option");
      option.value = workflow.id;
      option.textContent = workflow.name;
      $("new-workflow").append(option);
    }
    workflowsListed = true;
  }
  $("latency").value = cflow.latency;
  const list = $("cflow-requests");
  list.replaceChildren(...cflow.requests.map(requestItem));
}

function requestItem(request) {
  const item = document.createElement("li");
  const head = document.createElement("div");
  const fields = Object.entries(request.fields).map(([k, v]) => `${k}: ${v}`).join(" · ");
  head.textContent = `${request.workflow} #${request.id} — ${request.status}` +
    (request.stage ? ` at ${request.stage} (${request.reviewers.join(", ")})` : "");
  const detail = document.createElement("div");
  detail.className = "hint";
  detail.textContent = fields;
  item.append(head, detail);
  const buttons = document.createElement("div");
  buttons.className = "buttons";
  const choices = request.status === "pending" ? ["approve", "reject"] : ["send_back"];
  for (const action of choices) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = action === "send_back" ? "Send back" : action[0].toUpperCase() + action.slice(1);
    button.dataset.cflowAction = action;
    button.addEventListener("click", () => decide(request, action));
    buttons.append(button);
  }
  item.append(buttons);
  return item;
}

async function cflowSaid(work) {
  try {
    await work();
    $("cflow-said").textContent = "Done in Cflow: the bot sees it at its next poll.";
  } catch (error) {
    $("cflow-said").textContent = "Cflow said: " + error.message;
  }
  drawCflow();
}

function decide(request, action) {
  return cflowSaid(() => api("/api/cflow/decide", {
    workflow_id: request.workflow_id, request_id: request.id, action,
  }));
}

$("new-request").addEventListener("submit", (event) => {
  event.preventDefault();
  const fields = { Title: $("new-title").value, Amount: $("new-amount").value };
  cflowSaid(() => api("/api/cflow/requests", { workflow_id: $("new-workflow").value, fields }));
});

$("faults").addEventListener("submit", (event) => {
  event.preventDefault();
  cflowSaid(() => api("/api/cflow/config", {
    latency: Number($("latency").value), fail_next: Number($("fail-next").value),
  }));
});

// -- the Workflow Builder panel: a workflow reaches the bot's custom step ---------------

$("open-steps").addEventListener("click", () => {
  page.stepsOpen = true;
  $("steps").hidden = false;
  drawSteps();
});
$("close-steps").addEventListener("click", () => { page.stepsOpen = false; $("steps").hidden = true; });

// The step's submitter is a user_context: Slack fills it with whoever runs the workflow,
// so the panel runs it as the person the page acts as, and offers no other choice.
async function drawSteps() {
  const runner = $("person").selectedOptions[0];
  $("step-runner").textContent = runner ? runner.textContent : page.person;
  const steps = await api("/api/steps");
  $("step-runs").replaceChildren(...steps.runs.map(runItem));
}

function runItem(run) {
  const item = document.createElement("li");
  item.dataset.run = run.id;
  const head = document.createElement("div");
  const states = { running: "waiting for the decision", completed: "completed", failed: "failed" };
  head.textContent = `${run.id} · ${run.workflow} for ${run.submitter} — ${states[run.state] || run.state}`;
  item.append(head);
  const lines = run.outputs ? Object.entries(run.outputs).map(([k, v]) => `${k}: ${v}`) : [];
  if (run.error) { lines.push(`error: ${run.error}`); }
  for (const line of lines) {
    const detail = document.createElement("div");
    detail.className = "hint step-output";
    detail.textContent = line;
    item.append(detail);
  }
  return item;
}

$("run-step").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("/api/steps", {
      workflow: $("step-workflow").value,
      fields: $("step-fields").value,
      user: page.person,
    });
    $("steps-said").textContent = "Slack ran the step: the bot sends the request to Cflow.";
  } catch (error) {
    $("steps-said").textContent = "Workflow Builder said: " + error.message;
  }
  drawSteps();
});

start();
