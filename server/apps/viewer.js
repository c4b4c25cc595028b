/* The comic viewer: the comic (and its partial images while drawing), the prompt sent, its
   reference photos, the earlier versions to step through, the variants of one request to pick
   from, every branch of the comic, and a box to refine it: all of it, one panel, or the part
   brushed over (sent as markup strokes; the server turns them into a mask for older models).
   A comic photocomic lettered lists its lines, each editable in place, and letters its drawing
   again with them (letter_comic: no drawing, no cost). */
let current = null;
let drawn = false;
let letters = []; // the shown comic's lines: {panel, kind, who, text}

async function show(result) {
  const data = result.structuredContent || {};
  if (data.comics) return showList(data.comics);
  if (data.state === "running") return follow(result, data);
  if (!data.comic_id) { say(textOf(result)); return; }
  current = data.comic_id;
  $("#list").replaceChildren();
  $("#picture").src = imageOf(result);
  $("#picture").hidden = false;
  if (data.format === "gif") play(data.comic_id);
  $("#caption").textContent = `${data.comic_id}${data.parent_id ? " (refines " + data.parent_id + ")" : ""} · ${data.style} · ${data.panels} panels · ${data.model}${cast(data)}`;
  $("#prompt-sent").textContent = data.prompt || "";
  $("#refine-box").hidden = false;
  panels(data.panels);
  showLetters(data.letters || [], data.panels);
  clearMarks();
  say(data.cost_usd != null ? `About $${data.cost_usd.toFixed(3)}.` : "");
  await references(data.photos || []);
  await lineage(data.comic_id, data.variants || []);
}

/* Whose character sheet this is, or whose sheets it followed: the person sees which drawing
   keeps each subject the same from comic to comic. */
function cast(data) {
  if (data.sheet_for) return ` · ${data.sheet_for}'s character sheet`;
  const followed = (data.sheets || []).map((s) => `${s.subject}'s sheet (${s.comic_id})`);
  return followed.length ? ` · follows ${followed.join(", ")}` : "";
}

async function follow(result, data) {
  const partial = imageOf(result);
  if (partial) { $("#picture").src = partial; $("#picture").hidden = false; }
  say(`Drawing... ${data.partial_images || 0} partial images so far.`);
  const next = await call(app, "comic_status", { job_id: data.job_id, wait_seconds: 10 });
  return show(next);
}

async function references(photos) {
  const ids = photos.map((p) => p.photo_id).filter((id) => id !== null && id !== undefined);
  const pictures = await thumbnails(app, ids, 96);
  $("#refs").replaceChildren(...ids.map((id) => el("img", { src: jpeg(pictures[id]), alt: String(id) })));
}

async function lineage(comicId, variants = []) {
  const result = await call(app, "app_comic_lineage", { comic_id: comicId });
  const steps = result.structuredContent.steps.slice().reverse(); // oldest first
  $("#strip").replaceChildren(...steps.map((step) => {
    const img = el("img", { src: jpeg(step.preview_jpeg), alt: step.comic_id, title: step.user_prompt,
      class: step.comic_id === comicId ? "current" : "" });
    img.addEventListener("click", () => choose(step));
    return img;
  }));
  const tree = result.structuredContent.tree || [];
  showVariants(tree.filter((s) => variants.includes(s.comic_id)));
  showTree(tree, comicId);
}

function showVariants(siblings) {
  $("#variants-box").hidden = siblings.length < 2;
  $("#variants").replaceChildren(...siblings.map((step) => {
    const img = el("img", { src: jpeg(step.preview_jpeg), alt: step.comic_id,
      title: `variant ${step.variant}`, class: step.comic_id === current ? "current" : "" });
    img.addEventListener("click", () => pick(step));
    return img;
  }));
}

function pick(step) {
  choose(step);
  for (const img of document.querySelectorAll("#variants img")) img.classList.toggle("current", img.alt === step.comic_id);
  app.sendMessage({ role: "user", content: [{ type: "text",
    text: `I picked variant #${step.variant} (comic ${step.comic_id}); go on from that one.` }] }).catch(() => {});
}

function showTree(tree, comicId) {
  const depth = {};
  $("#tree-box").hidden = tree.length < 2;
  $("#tree").replaceChildren(...tree.map((step) => {
    depth[step.comic_id] = step.parent_id in depth ? depth[step.parent_id] + 1 : 0;
    const what = step.variant ? ` · variant ${step.variant}` : step.panel ? ` · panel ${step.panel}` : "";
    const item = el("button", { class: step.comic_id === comicId ? "current" : "", "data-id": step.comic_id,
      style: `padding-left: ${8 + 16 * depth[step.comic_id]}px` },
      `${depth[step.comic_id] ? "└ " : ""}${step.comic_id}${what} · ${step.user_prompt.slice(0, 50)}`);
    item.addEventListener("click", () => act(() => open(step.comic_id), "Opening..."));
    return item;
  }));
}

function panels(count) {
  const options = [el("option", { value: "" }, "the whole comic")];
  for (let n = 1; count > 1 && n <= count; n++) options.push(el("option", { value: String(n) }, `only panel ${n}`));
  $("#panel").replaceChildren(...options);
}

function clearMarks() {
  const canvas = $("#marks"), picture = $("#picture");
  canvas.width = picture.naturalWidth || 512;
  canvas.height = picture.naturalHeight || 512;
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  canvas.hidden = picture.hidden;
  drawn = false;
}

function brush() {
  const canvas = $("#marks");
  let down = false;
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    down = true;
    const pen = canvas.getContext("2d");
    pen.strokeStyle = "rgba(230, 30, 30, 0.9)";
    pen.lineWidth = Math.max(6, canvas.width / 60);
    pen.lineCap = pen.lineJoin = "round";
    pen.beginPath();
    pen.moveTo(...at(event));
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!down) return;
    const pen = canvas.getContext("2d");
    pen.lineTo(...at(event));
    pen.stroke();
    drawn = true;
  });
  for (const name of ["pointerup", "pointerleave"]) canvas.addEventListener(name, () => { down = false; });
}

function choose(step) {
  current = step.comic_id;
  if (step.panels) panels(step.panels);
  showLetters(step.letters || [], step.panels);
  clearMarks();
  references(step.photos || []).catch((error) => say(String(error.message || error)));
  $("#picture").src = jpeg(step.preview_jpeg);
  if (step.format === "gif") play(step.comic_id);
  $("#caption").textContent = `${step.comic_id} · ${step.user_prompt}${step.frames ? " · " + step.frames + " frames" : ""}`;
  for (const img of document.querySelectorAll("#strip img")) img.classList.toggle("current", img.alt === step.comic_id);
}

function showList(comics) {
  $("#picture").hidden = true;
  $("#list").replaceChildren(...comics.map((c) => {
    const item = el("button", {}, `${c.comic_id} · ${c.user_prompt.slice(0, 60)}`);
    item.addEventListener("click", () => act(() => open(c.comic_id), "Opening..."));
    return item;
  }));
}

async function open(comicId) {
  const result = await call(app, "app_comic_lineage", { comic_id: comicId });
  const newest = result.structuredContent.steps[0];
  current = comicId;
  $("#list").replaceChildren();
  $("#refine-box").hidden = false;
  $("#picture").hidden = false;
  choose(newest);
  await lineage(comicId, newest.variants || []);
  say("");
}

async function refine() {
  const change = $("#change").value.trim();
  if (!change || !current) return;
  const args = { prompt: change, refine: current, wait_seconds: 45, variants: Number($("#count").value) };
  const where = drawn ? "the part I marked" : $("#panel").value ? `panel ${$("#panel").value}` : "the comic";
  if (drawn) args.markup_png = $("#marks").toDataURL("image/png").split(",")[1];
  else if ($("#panel").value) args.panel = Number($("#panel").value);
  const result = await call(app, "generate_comic", args);
  $("#change").value = "";
  await show(result);
  app.sendMessage({ role: "user", content: [{ type: "text",
    text: `I changed ${where}: "${change}". ${textOf(result).slice(0, 300)}` }] }).catch(() => {});
}

/* An animated comic plays: its GIF is read from the server's resource, never fetched. */
async function play(comicId) {
  try {
    const read = await app.readServerResource({ uri: `comic://${comicId}/gif` });
    const blob = read.contents && read.contents[0] && read.contents[0].blob;
    if (blob && current === comicId) {
      $("#picture").src = "data:image/gif;base64," + blob;
      $("#picture").dataset.playing = comicId;
    }
  } catch (error) { say(String(error.message || error)); }
}

let panelCount = 1;
function showLetters(lines, count) {
  letters = lines.map((l) => ({ panel: l.panel, kind: l.kind, who: l.who ?? null, text: l.text }));
  panelCount = count || 1;
  $("#letters-box").hidden = letters.length === 0;
  $("#letters").replaceChildren(...letters.map((line, index) => {
    const input = el("input", { type: "text", value: line.text, "data-index": String(index),
      dir: "auto", "aria-label": `panel ${line.panel} ${line.kind}` });
    input.addEventListener("input", () => { letters[index].text = input.value; });
    const who = line.who ? `${line.who} (${line.kind})` : line.kind;
    return el("label", { class: "line" }, el("span", { class: "muted" }, `Panel ${line.panel} · ${who}`), input);
  }));
}

/* The script letter_comic takes: one entry per panel, its lines in reading order. */
function scriptOf(lines, count) {
  const script = Array.from({ length: count }, () => ({ lines: [] }));
  for (const line of lines) {
    if (!line.text.trim()) continue;
    script[line.panel - 1].lines.push({ who: line.who, text: line.text.trim(), kind: line.kind });
  }
  return script;
}

async function reletter() {
  if (!current || !letters.length) return;
  const result = await call(app, "letter_comic", { comic_id: current, script: scriptOf(letters, panelCount) });
  await show(result);
  app.sendMessage({ role: "user", content: [{ type: "text",
    text: `I edited the comic's lines in place. ${textOf(result).slice(0, 300)}` }] }).catch(() => {});
}

async function act(work, message) {
  say(message);
  try { await work(); } catch (error) { say(String(error.message || error)); }
}

$("#refine").addEventListener("click", () => act(refine, "Drawing the change (a minute or two)..."));
$("#clear-marks").addEventListener("click", clearMarks);
$("#reletter").addEventListener("click", () => act(reletter, "Lettering again..."));
$("#picture").addEventListener("load", () => { if (!drawn) clearMarks(); });
brush();
startApp("photocomic viewer", (result) => act(() => show(result), ""));
