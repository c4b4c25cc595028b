/* Shared by the photocomic pages: connecting to the host, theme, calling the server's tools. */
const { App, PostMessageTransport, applyDocumentTheme, applyHostStyleVariables } = window.ExtApps;
const $ = (selector) => document.querySelector(selector);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}
function jpeg(data) { return data ? "data:image/jpeg;base64," + data : ""; }
function textOf(result) {
  return (result.content || []).filter((b) => b.type === "text").map((b) => b.text).join("\n");
}
function imageOf(result) {
  const block = (result.content || []).find((b) => b.type === "image");
  return block ? "data:" + block.mimeType + ";base64," + block.data : "";
}
function say(text) { $("#status").textContent = text; }
let app = null; // the connection to the host, made before the first tool result can arrive
async function startApp(name, onResult) {
  app = new App({ name, version: "1.0.0" }, {});
  app.ontoolresult = (params) => onResult(params);
  app.onhostcontextchanged = (context) => theme(context);
  await app.connect(new PostMessageTransport(window.parent, window.parent));
  theme(app.getHostContext());
  return app;
}
function theme(context) {
  if (!context) return;
  if (context.theme) { applyDocumentTheme(context.theme); document.documentElement.dataset.theme = context.theme; }
  if (context.styles && context.styles.variables) applyHostStyleVariables(context.styles.variables);
}
async function call(app, name, args) {
  const result = await app.callServerTool({ name, arguments: args });
  if (result.isError) throw new Error(textOf(result));
  return result;
}
async function thumbnails(app, ids, side = 160) {
  if (!ids.length) return {};
  const result = await call(app, "app_thumbnails", { photo_ids: ids, side });
  const found = {};
  for (const t of result.structuredContent.thumbnails) found[t.photo_id] = t.jpeg;
  return found;
}
