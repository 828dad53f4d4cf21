// Bundles web/src/main.js into codeinterview/http/static/{app.js,app.css,index.html}.
// Usage: cd web && npm ci && npm run build
import { build } from 'esbuild'
import { copyFile, mkdir, rm, stat } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const outdir = join(here, '..', 'codeinterview', 'http', 'static')

// Only this build's own outputs are replaced; anything else in static/ is left alone.
const outputs = ['index.html', 'app.js', 'app.css']
await mkdir(outdir, { recursive: true })
for (const name of [...outputs, 'app.js.map', 'app.css.map']) await rm(join(outdir, name), { force: true })

await build({
  entryPoints: { app: join(here, 'src', 'main.js') },
  outdir,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15.4'],
  platform: 'browser',
  legalComments: 'eof',
  charset: 'utf8',
  sourcemap: false,
  logLevel: 'warning'
})
await copyFile(join(here, 'src', 'index.html'), join(outdir, 'index.html'))

for (const name of outputs) {
  const { size } = await stat(join(outdir, name))
  console.log(`${relative(join(here, '..'), join(outdir, name))}  ${(size / 1024).toFixed(1)} KiB`)
}
