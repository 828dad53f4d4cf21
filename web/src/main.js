// codeinterview browser client: hash routes
//   #/                          start a session
//   #/share/<sessionId>         invite links (creator's browser)
//   #/join/<sessionId>/<invite> join from an invite link
//   #/s/<sessionId>             the collaborative editor
import './styles.css'
import { clearStatus, h } from './dom.js'
import { renderStart } from './views/start.js'
import { renderShare } from './views/share.js'
import { renderJoin } from './views/join.js'
import { renderEditor } from './views/editor.js'

/** @type {(() => void) | undefined} */
let cleanup

function parseRoute () {
  const raw = window.location.hash.replace(/^#\/?/, '')
  const parts = raw.split('/').filter(Boolean).map((part) => {
    try { return decodeURIComponent(part) } catch { return part }
  })
  return parts
}

function render () {
  if (cleanup) {
    try { cleanup() } catch (error) { console.error(error) }
    cleanup = undefined
  }
  const root = document.getElementById('app')
  if (!root) return
  root.replaceChildren()
  clearStatus()
  const [name, ...args] = parseRoute()
  document.body.dataset.route = name || 'start'
  if (!name) {
    document.title = 'CodeInterview'
    renderStart(root)
  } else if (name === 'join' && args.length >= 2) {
    document.title = 'Join interview · CodeInterview'
    renderJoin(root, args[0], args[1])
  } else if (name === 'share' && args.length >= 1) {
    document.title = 'Invite links · CodeInterview'
    renderShare(root, args[0])
  } else if (name === 's' && args.length >= 1) {
    document.title = 'Interview · CodeInterview'
    cleanup = renderEditor(root, args[0])
  } else {
    document.title = 'Not found · CodeInterview'
    root.append(h('section', { class: 'card narrow' },
      h('h1', { tabindex: '-1' }, 'Page not found'),
      h('p', null, h('a', { href: '#/' }, 'Start a new session'))))
  }
  if (!root.contains(document.activeElement)) {
    const heading = root.querySelector('h1')
    if (heading) heading.focus({ preventScroll: true })
  }
}

window.addEventListener('hashchange', render)
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', render)
else render()
