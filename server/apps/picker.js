/* The photo picker: search hits as a grid; click to choose, shift-click for a range; then more
   like these, not this subject, or a comic from the chosen photos. */
let hits = [];
let subject = null;
let anchor = null;
const chosen = new Set();

function chosenIds() { return hits.map((h) => h.photo_id).filter((id) => chosen.has(id)); }

async function show(result) {
  const data = result.structuredContent || {};
  hits = data.hits || [];
  subject = data.subject || null;
  chosen.clear();
  anchor = null;
  const query = String(data.query || "").split("/").pop(); // a file's name, not where it lives
  $("#title").textContent = hits.length ? `${hits.length} photos ${subject ? "of " + subject : "for " + query}` : "No photos";
  $("#note").textContent = data.note || "";
  $("#not-subject").hidden = !subject;
  if (subject) $("#not-subject").textContent = `Not ${subject}`;
  const grid = $("#grid");
  grid.replaceChildren(...hits.map((hit, index) => card(hit, index)));
  refresh();
  const pictures = await thumbnails(app, hits.map((h) => h.photo_id));
  for (const img of grid.querySelectorAll("img")) img.src = jpeg(pictures[img.dataset.id]);
}

function card(hit, index) {
  const date = (hit.taken_at || "").slice(0, 10);
  const label = (hit.labels || [])[0] || "";
  const node = el("div", { class: "card", "data-id": String(hit.photo_id), title: hit.path },
    el("img", { alt: `#${hit.rank}`, "data-id": String(hit.photo_id) }),
    el("div", { class: "meta" }, `#${hit.rank} · ${hit.score.toFixed(3)} · ${date}`),
    el("div", { class: "meta" }, label));
  node.addEventListener("click", (event) => pick(index, event.shiftKey));
  return node;
}

function pick(index, range) {
  const id = hits[index].photo_id;
  if (range && anchor !== null) {
    const [from, to] = [Math.min(anchor, index), Math.max(anchor, index)];
    for (let i = from; i <= to; i++) chosen.add(hits[i].photo_id);
  } else if (chosen.has(id)) chosen.delete(id);
  else chosen.add(id);
  anchor = index;
  refresh();
  tell();
}

function refresh() {
  for (const node of document.querySelectorAll(".card")) {
    node.classList.toggle("chosen", chosen.has(Number(node.dataset.id)));
  }
  const some = chosen.size > 0;
  for (const id of ["#more", "#not-subject", "#comic"]) $(id).disabled = !some;
  $("#count").textContent = some ? `${chosen.size} chosen` : "click photos to choose them";
}

function tell() {
  const ids = chosenIds();
  app.updateModelContext({ content: [{ type: "text",
    text: ids.length ? `The person chose photos ${ids.join(", ")} in the picker.` : "No photo is chosen in the picker." }] })
    .catch(() => {});
}

async function act(work, message) {
  say(message);
  try { await work(); } catch (error) { say(String(error.message || error)); }
}

async function moreLike() {
  const ids = chosenIds();
  const result = await call(app, "search_similar", { like: ids, limit: Math.max(12, hits.length) });
  await show(result);
  say(`More like ${ids.length} chosen photos.`);
}

async function notSubject() {
  const ids = chosenIds();
  const result = await call(app, "remember_subject", { name: subject, not_photos: ids });
  await show(result);
  say(`${ids.length} photos marked as not ${subject}; the list is learnt again.`);
  app.sendMessage({ role: "user", content: [{ type: "text", text: `Photos ${ids.join(", ")} are not ${subject}.` }] }).catch(() => {});
}

async function drawComic() {
  const ids = chosenIds();
  const args = { prompt: $("#prompt").value.trim() || "a day together", photos: ids,
    style: $("#style").value, panels: Number($("#panels").value), layout: $("#layout").value,
    wait_seconds: 45 };
  const result = await call(app, "generate_comic", args);
  const data = result.structuredContent || {};
  const preview = imageOf(result);
  $("#drawn").replaceChildren(...(preview ? [el("img", { class: "comic", src: preview, alt: "comic" })] : []));
  say(data.comic_id ? `Comic ${data.comic_id} drawn from photos ${ids.join(", ")}.` : `Still drawing (job ${data.job_id}).`);
  app.sendMessage({ role: "user", content: [{ type: "text",
    text: `I chose photos ${ids.join(", ")} and asked for a comic: ${textOf(result).slice(0, 400)}` }] }).catch(() => {});
}

$("#more").addEventListener("click", () => act(moreLike, "Searching for more like these..."));
$("#not-subject").addEventListener("click", () => act(notSubject, "Learning..."));
$("#comic").addEventListener("click", () => { $("#form").hidden = false; });
$("#draw").addEventListener("click", () => act(drawComic, "Drawing the comic (a minute or two)..."));
startApp("photocomic picker", (result) => show(result));
