// Browser end-to-end run of the codeinterview web client, driven by playwright-core with
// Debian's Chromium (/usr/bin/chromium; browsers are never downloaded).
//
//   node tests/e2e/browser.mjs <server base URL> <artifacts dir>
//
// Interviewer (context A) creates a session and opens the editor; candidate (context B) joins
// through the candidate link; both type at the same time at different places; both editors must
// converge; presence, language switches and the HTML preview must reach the other side.
// Prints ONE JSON line on stdout (everything else goes to stderr) and exits 0, or prints
// "browser.mjs: FAILED during <step>: <reason>" on stderr, saves failure screenshots and exits 1.
// Run by tests/e2e/test_browser.py, which checks the result against the REST API.

import { createRequire } from 'node:module'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const WEB = path.resolve(HERE, '../../web')
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium'
const STEP_TIMEOUT = 30_000
const OVERALL_TIMEOUT = 100_000 // below the test's 120 s, so this script reports first

const SEED = 'const answer = 42;\n'
const TYPED_A = '// A\n'
const TYPED_B = '// B\n'
const EXPECTED = TYPED_A + SEED + TYPED_B

// Playwright colours its call logs; keep the log plain for pytest's report.
const plain = (text) => String(text).replace(/\x1b\[[0-9;]*m/g, '')
const log = (...args) => console.error('browser.mjs:', ...args.map(plain))

let step = 'start'
const t0 = Date.now()
const timings = {}
function begin (name) {
  step = name
  log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${name}`)
}
function fail (message) {
  throw new Error(message)
}

const [baseUrlArg, artifactsArg] = process.argv.slice(2)
if (!baseUrlArg || !artifactsArg) {
  console.error('usage: node tests/e2e/browser.mjs <server base URL> <artifacts dir>')
  process.exit(2)
}
const baseUrl = baseUrlArg.replace(/\/+$/, '')
const artifacts = path.resolve(artifactsArg)
mkdirSync(artifacts, { recursive: true })

let chromium
try {
  ({ chromium } = createRequire(path.join(WEB, 'package.json'))('playwright-core'))
} catch (error) {
  console.error(`browser.mjs: FAILED: cannot load playwright-core from ${WEB}/node_modules ` +
    `(run scripts/browser-deps.sh): ${error.message}`)
  process.exit(1)
}

/**
 * In the page: the editor's text. `doc` is CodeMirror's own document when its view can be
 * found from the DOM (internal `cmTile` / `cmView` link, absent in other versions: then null);
 * `shown` is the text of the rendered lines without widgets (remote cursors and their name
 * labels are widgets, `contenteditable=false`).
 */
function editorText () {
  const content = document.querySelector('#editor .cm-content')
  if (!content) return { doc: null, shown: null }
  let doc = null
  try {
    const tile = content.cmTile
    const view = (tile && tile.root && tile.root.view) || (content.cmView && content.cmView.view)
    if (view && view.state) doc = view.state.doc.toString()
  } catch { /* internal API changed: fall back to the rendered text */ }
  const lineText = (line) => {
    let text = ''
    const walk = (node) => {
      for (const child of node.childNodes) {
        if (child.nodeType === Node.TEXT_NODE) text += child.data
        else if (child.nodeType === Node.ELEMENT_NODE &&
          child.getAttribute('contenteditable') !== 'false' &&
          !child.classList.contains('cm-widgetBuffer') && child.tagName !== 'BR') walk(child)
      }
    }
    walk(line)
    return text
  }
  const shown = Array.from(content.querySelectorAll(':scope > .cm-line'), lineText).join('\n')
  return { doc, shown }
}

/** The text a page shows, checked against CodeMirror's document when that is reachable. */
async function textOf (page) {
  const { doc, shown } = await page.evaluate(editorText)
  return { text: doc ?? shown, doc, shown }
}

async function pollUntil (description, probe, timeout = STEP_TIMEOUT, interval = 100) {
  const deadline = Date.now() + timeout
  let last
  for (;;) {
    last = await probe()
    if (last.ok) return last
    if (Date.now() > deadline) fail(`timed out after ${timeout / 1000} s waiting for ${description}; last seen: ${JSON.stringify(last)}`)
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}

async function credentialsOf (page, sessionId) {
  const raw = await page.evaluate((key) => window.localStorage.getItem(key), `codeinterview:${sessionId}`)
  if (!raw) fail(`localStorage has no codeinterview:${sessionId} in ${page.url()}`)
  const value = JSON.parse(raw)
  if (typeof value.token !== 'string' || !value.participant || typeof value.participant.id !== 'string') {
    fail(`localStorage codeinterview:${sessionId} lacks token/participant: ${raw}`)
  }
  return value
}

async function waitConnected (page, who) {
  await page.waitForFunction(
    () => document.querySelector('#connection-status')?.textContent === 'connected',
    null, { timeout: STEP_TIMEOUT })
    .catch(async (error) => {
      const state = await page.evaluate(() => {
        const badge = document.querySelector('#connection-status')
        return badge && `${badge.textContent} (${badge.dataset.state}; ${document.querySelector('#connection-detail')?.textContent})`
      }).catch(() => 'unknown')
      fail(`${who}: #connection-status never became "connected" (now: ${state}): ${error.message}`)
    })
}

async function waitOnline (page, who, participantId, role) {
  const selector = `#participants > li[data-participant-id="${participantId}"][data-online="true"][data-role="${role}"]`
  await page.waitForSelector(selector, { timeout: STEP_TIMEOUT }).catch(async (error) => {
    const rows = await page.$$eval('#participants > li', (lis) => lis.map((li) => ({ ...li.dataset, text: li.textContent })))
    fail(`${who}: no ${selector}; participants: ${JSON.stringify(rows)}: ${error.message}`)
  })
}

async function waitLanguage (page, who, language) {
  await page.waitForFunction((value) => document.querySelector('#language-select')?.value === value,
    language, { timeout: STEP_TIMEOUT })
    .catch(async (error) => {
      const now = await page.$eval('#language-select', (select) => select.value).catch(() => 'missing')
      fail(`${who}: #language-select never showed ${language} (shows ${now}): ${error.message}`)
    })
}

const consoleErrors = []
const pageErrors = []
function watch (page, who) {
  page.on('console', (message) => {
    if (message.type() !== 'error') return
    const text = message.text()
    log(`${who} console.error: ${text}`)
    consoleErrors.push({ who, text })
  })
  page.on('pageerror', (error) => {
    log(`${who} pageerror: ${error.message}`)
    pageErrors.push({ who, message: String(error.message || error) })
  })
}

let browser
const pages = {}

async function main () {
  begin('launch chromium')
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: STEP_TIMEOUT,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  const contextOptions = { viewport: { width: 1280, height: 800 }, baseURL: baseUrl }
  // Two contexts = two separate profiles (own localStorage), like two people's browsers.
  const contextA = await browser.newContext(contextOptions)
  const contextB = await browser.newContext(contextOptions)
  for (const context of [contextA, contextB]) {
    context.setDefaultTimeout(STEP_TIMEOUT)
    context.setDefaultNavigationTimeout(STEP_TIMEOUT)
  }
  const a = pages.interviewer = await contextA.newPage()
  const b = pages.candidate = await contextB.newPage()
  watch(a, 'interviewer')
  watch(b, 'candidate')

  begin('interviewer creates a session')
  await a.goto('/')
  await a.fill('#start-name', 'Alice Interviewer')
  await a.selectOption('#start-language', 'javascript')
  await a.click('#start-submit')
  const candidateLink = a.locator('#candidate-link')
  await candidateLink.waitFor()
  const link = await candidateLink.getAttribute('data-url')
  const linkText = (await candidateLink.textContent() || '').trim()
  if (!link || link !== linkText) fail(`#candidate-link data-url ${JSON.stringify(link)} differs from its text ${JSON.stringify(linkText)}`)
  const match = /^(.*)\/#\/join\/([^/]+)\/([^/]+)$/.exec(link)
  if (!match) fail(`candidate link ${JSON.stringify(link)} is not <origin>/#/join/<sessionId>/<invite>`)
  if (match[1] !== new URL(baseUrl).origin) fail(`candidate link origin ${match[1]} is not the server's ${new URL(baseUrl).origin}`)
  const sessionId = decodeURIComponent(match[2])
  const interviewerLink = await a.locator('#interviewer-link').getAttribute('data-url')
  if (!interviewerLink || !interviewerLink.includes(`/#/join/${match[2]}/`) || interviewerLink === link) {
    fail(`#interviewer-link ${JSON.stringify(interviewerLink)} is not a distinct invite for the session`)
  }
  const credsA = await credentialsOf(a, sessionId)
  await a.click('#open-editor')
  await a.waitForURL(`**/#/s/${match[2]}`)

  begin('candidate joins through the link')
  await b.goto(link)
  await b.fill('#join-name', 'Bob Candidate')
  await b.click('#join-submit')
  await b.waitForURL(`**/#/s/${match[2]}`)
  const credsB = await credentialsOf(b, sessionId)
  if (credsB.participant.role !== 'candidate') fail(`candidate stored role ${credsB.participant.role}`)

  begin('both connect')
  await Promise.all([waitConnected(a, 'interviewer'), waitConnected(b, 'candidate')])
  await Promise.all([a.locator('#editor .cm-content').waitFor(), b.locator('#editor .cm-content').waitFor()])
  timings.connectedMs = Date.now() - t0

  begin('presence: each sees the other online')
  await Promise.all([
    waitOnline(a, 'interviewer', credsB.participant.id, 'candidate'),
    waitOnline(b, 'candidate', credsA.participant.id, 'interviewer'),
    waitOnline(a, 'interviewer', credsA.participant.id, 'interviewer'),
    waitOnline(b, 'candidate', credsB.participant.id, 'candidate')
  ])
  const endVisible = { interviewer: await a.locator('#end-session').isVisible(), candidate: await b.locator('#end-session').count() > 0 }
  if (!endVisible.interviewer) fail('interviewer: #end-session is not visible')
  if (endVisible.candidate) fail('candidate: #end-session exists, but it is for interviewers only')

  begin('interviewer types a first line; the candidate sees it')
  const initial = await textOf(a)
  if (initial.text !== '') fail(`a new session's editor is not empty: ${JSON.stringify(initial)}`)
  await a.click('#editor .cm-content')
  await a.keyboard.type(SEED, { delay: 10 })
  await pollUntil('the candidate to see the first line', async () => {
    const seen = await textOf(b)
    return { ok: seen.text === SEED, seen: seen.text }
  })

  begin('both type at the same time (A at the start, B at the end)')
  await b.click('#editor .cm-content')
  await Promise.all([a.keyboard.press('Control+Home'), b.keyboard.press('Control+End')])
  // Each side types one key every 40 ms, so the two streams of edits interleave on the wire.
  const typeAt = async (page, text) => {
    const start = Date.now()
    await page.keyboard.type(text, { delay: 40 })
    return { start: start - t0, end: Date.now() - t0 }
  }
  const [typingA, typingB] = await Promise.all([typeAt(a, TYPED_A), typeAt(b, TYPED_B)])
  timings.typing = { interviewer: typingA, candidate: typingB }
  log(`typing windows (ms since start): ${JSON.stringify(timings.typing)}`)
  if (typingA.start >= typingB.end || typingB.start >= typingA.end) {
    fail(`the two typing runs did not overlap in time: ${JSON.stringify(timings.typing)}`)
  }

  begin('both editors converge')
  const converged = await pollUntil('both editors to show the same text with both typed strings', async () => {
    const [ta, tb] = await Promise.all([textOf(a), textOf(b)])
    const renderedOk = (t) => t.doc === null || t.doc === t.shown
    return {
      ok: ta.text === tb.text && ta.text.includes(TYPED_A) && ta.text.includes(TYPED_B) && renderedOk(ta) && renderedOk(tb),
      a: ta,
      b: tb
    }
  })
  const textA = converged.a.text
  const textB = converged.b.text
  timings.convergedMs = Date.now() - t0

  begin('interviewer switches the language to python')
  await a.selectOption('#language-select', 'python')
  await waitLanguage(b, 'candidate', 'python')
  await waitLanguage(a, 'interviewer', 'python')

  begin('interviewer switches the language to html; the candidate gets the preview')
  await a.selectOption('#language-select', 'html')
  await waitLanguage(b, 'candidate', 'html')
  await b.locator('#preview').waitFor({ state: 'visible' })
  await a.locator('#preview').waitFor({ state: 'visible' })
  // The preview is re-rendered (debounced) from the shared text.
  await pollUntil('the candidate\'s preview to hold the shared text', async () => {
    const srcdoc = await b.$eval('#preview', (frame) => frame.getAttribute('srcdoc')).catch(() => null)
    return { ok: srcdoc === textB, srcdoc }
  })
  const previewText = (await b.frameLocator('#preview').locator('body').textContent({ timeout: STEP_TIMEOUT })) || ''
  if (!previewText.includes('// A') || !previewText.includes('// B')) {
    fail(`candidate's preview body does not show the shared text: ${JSON.stringify(previewText)}`)
  }
  const languages = {
    interviewer: await a.$eval('#language-select', (select) => select.value),
    candidate: await b.$eval('#language-select', (select) => select.value)
  }
  const statusB = await b.locator('#status-message').textContent()

  begin('screenshots')
  // Let the debounced participant refreshes and the preview settle before the pictures.
  await Promise.all([a.waitForTimeout(700), b.waitForTimeout(700)])
  const screenshots = {
    interviewer: path.join(artifacts, 'interviewer.png'),
    candidate: path.join(artifacts, 'candidate.png')
  }
  await a.screenshot({ path: screenshots.interviewer, fullPage: true })
  await b.screenshot({ path: screenshots.candidate, fullPage: true })

  begin('final check')
  const [finalA, finalB] = await Promise.all([textOf(a), textOf(b)])
  if (finalA.text !== textA || finalB.text !== textB) {
    fail(`text changed after convergence: ${JSON.stringify({ before: [textA, textB], after: [finalA.text, finalB.text] })}`)
  }
  timings.totalMs = Date.now() - t0

  return {
    sessionId,
    token: credsA.token,
    candidateToken: credsB.token,
    interviewerId: credsA.participant.id,
    candidateId: credsB.participant.id,
    candidateLink: link,
    textA,
    textB,
    expected: EXPECTED,
    typed: { seed: SEED, a: TYPED_A, b: TYPED_B },
    docReadable: { interviewer: converged.a.doc !== null, candidate: converged.b.doc !== null },
    languages,
    candidateStatus: statusB,
    previewText,
    screenshots,
    consoleErrors,
    pageErrors,
    timings
  }
}

async function failureScreenshots () {
  for (const [who, page] of Object.entries(pages)) {
    try {
      const file = path.join(artifacts, `failure-${who}.png`)
      await page.screenshot({ path: file, fullPage: true, timeout: 5_000 })
      log(`saved ${file}`)
    } catch (error) {
      log(`could not save the ${who} failure screenshot: ${error.message}`)
    }
  }
}

const watchdog = setTimeout(() => {
  console.error(`browser.mjs: FAILED during ${step}: the whole run exceeded ${OVERALL_TIMEOUT / 1000} s`)
  const closing = browser ? failureScreenshots().then(() => browser.close()) : Promise.resolve()
  closing.catch(() => {}).finally(() => process.exit(1))
  setTimeout(() => process.exit(1), 10_000).unref()
}, OVERALL_TIMEOUT)

let exitCode = 0
try {
  const result = await main()
  process.stdout.write(JSON.stringify(result) + '\n')
} catch (error) {
  exitCode = 1
  console.error(`browser.mjs: FAILED during ${step}: ${plain(error && error.stack ? error.stack : error)}`)
  await failureScreenshots()
} finally {
  clearTimeout(watchdog)
  if (browser) await browser.close().catch((error) => log(`closing the browser: ${error.message}`))
}
process.exit(exitCode)
