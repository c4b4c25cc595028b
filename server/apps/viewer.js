/* The comic viewer: the comic (and its partial images while drawing), the prompt sent, its
   reference photos, the earlier versions to step through, and a box to refine it. */
let current = null;

async function show(result) {
  const data = result.structuredContent || {};
  if (data.comics) return showList(data.comics);
  if (data.state === "running") return follow(result, data);
  if (!data.comic_id) { say(textOf(result)); return; }
  current = data.comic_id;
  $("#list").replaceChildren();
  $("#picture").src = imageOf(result);
  $("#picture").hidden = false;
  $("#caption").textContent = `${data.comic_id}${data.parent_id ? " (refines " + data.parent_id + ")" : ""} · ${data.style} · ${data.panels} panels · ${data.model}`;
  $("#prompt-sent").textContent = data.prompt || "";
  $("#refine-box").hidden = false;
  say(data.cost_usd != null ? `About $${data.cost_usd.toFixed(3)}.` : "");
  await references(data.photos || []);
  await lineage(data.comic_id);
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

async function lineage(comicId) {
  const result = await call(app, "app_comic_lineage", { comic_id: comicId });
  const steps = result.structuredContent.steps.slice().reverse(); // oldest first
  $("#strip").replaceChildren(...steps.map((step) => {
    const img = el("img", { src: jpeg(step.preview_jpeg), alt: step.comic_id, title: step.user_prompt,
      class: step.comic_id === comicId ? "current" : "" });
    img.addEventListener("click", () => choose(step));
    return img;
  }));
}

function choose(step) {
  current = step.comic_id;
  references(step.photos || []).catch((error) => say(String(error.message || error)));
  $("#picture").src = jpeg(step.preview_jpeg);
  $("#caption").textContent = `${step.comic_id} · ${step.user_prompt}`;
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
  choose(newest);
  $("#picture").hidden = false;
  await lineage(comicId);
  say("");
}

async function refine() {
  const change = $("#change").value.trim();
  if (!change || !current) return;
  const result = await call(app, "generate_comic", { prompt: change, refine: current, wait_seconds: 45 });
  $("#change").value = "";
  await show(result);
  app.sendMessage({ role: "user", content: [{ type: "text",
    text: `I refined the comic: "${change}". ${textOf(result).slice(0, 300)}` }] }).catch(() => {});
}

async function act(work, message) {
  say(message);
  try { await work(); } catch (error) { say(String(error.message || error)); }
}

$("#refine").addEventListener("click", () => act(refine, "Drawing the change (a minute or two)..."));
startApp("photocomic viewer", (result) => act(() => show(result), ""));
