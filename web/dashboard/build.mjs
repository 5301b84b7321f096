// Builds the dashboard page into api/assets/dashboard/, which the API embeds and serves at
// /dashboard: app.js (one esbuild bundle with the NATS client), style.css, index.html (with
// the subresource-integrity hashes of both) and licenses.txt (the bundled packages' licenses).
//
//   node build.mjs          write the files
//   node build.mjs --check  exit 1 unless the committed files equal a fresh build

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "api", "assets", "dashboard");
const check = process.argv.includes("--check");

const integrity = (bytes) => `sha384-${createHash("sha384").update(bytes).digest("base64")}`;

const bundle = await esbuild.build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  legalComments: "none",
  charset: "utf8",
  metafile: true,
  write: false,
  banner: {
    js: "/*! Raptscallions class dashboard. Bundles the packages listed in /dashboard/licenses.txt with their licenses. */",
  },
});
const script = Buffer.from(bundle.outputFiles[0].contents);

// The packages whose code is in the bundle, each with its license text.
const packages = new Map();
for (const input of Object.keys(bundle.metafile.inputs)) {
  const parts = input.split(/[\\/]/);
  const at = parts.lastIndexOf("node_modules");
  if (at < 0) continue;
  const name = parts[at + 1].startsWith("@") ? `${parts[at + 1]}/${parts[at + 2]}` : parts[at + 1];
  const root = join(here, ...parts.slice(0, at + 1), ...name.split("/"));
  packages.set(name, root);
}
let licenses = "Third-party packages bundled in /dashboard/app.js\n";
for (const name of [...packages.keys()].sort()) {
  const root = packages.get(name);
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const file = ["LICENSE", "LICENSE.md", "LICENSE.txt", "license"].find((f) => existsSync(join(root, f)));
  if (!file) throw new Error(`${name} has no license file`);
  const text = readFileSync(join(root, file), "utf8").trim();
  licenses += `\n${"=".repeat(78)}\n${name} ${manifest.version} (${manifest.license})\n${"=".repeat(78)}\n\n${text}\n`;
}

const style = readFileSync(join(here, "src", "style.css"));
const html = readFileSync(join(here, "src", "index.html"), "utf8")
  .replace("%STYLE_INTEGRITY%", integrity(style))
  .replace("%SCRIPT_INTEGRITY%", integrity(script));

const files = {
  "app.js": script,
  "style.css": style,
  "index.html": Buffer.from(html),
  "licenses.txt": Buffer.from(licenses),
};

if (check) {
  const stale = Object.entries(files).filter(([name, bytes]) => {
    const path = join(out, name);
    return !existsSync(path) || !readFileSync(path).equals(bytes);
  });
  if (stale.length > 0) {
    const where = relative(process.cwd(), out).split(sep).join("/");
    console.error(`${where}: not what the sources build (${stale.map(([n]) => n).join(", ")}); run npm run build in web/dashboard`);
    process.exit(1);
  }
  console.log("the committed dashboard bundle equals a fresh build");
} else {
  mkdirSync(out, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(out, name), bytes);
  console.log(`built ${Object.keys(files).join(", ")} (app.js: ${script.length} bytes)`);
}
