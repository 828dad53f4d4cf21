import { h, setStatus, copyText } from '../dom.js'
import { loadCredentials } from '../store.js'
import { joinLink, editorHash } from '../util.js'

function linkRow (id, label, hint, url) {
  const copyButton = h('button', {
    id: `copy-${id}`,
    type: 'button',
    class: 'btn btn-secondary',
    'aria-describedby': id
  }, 'Copy')
  copyButton.addEventListener('click', async () => {
    const ok = await copyText(url)
    if (ok) {
      copyButton.textContent = 'Copied'
      setStatus(`${label} copied to the clipboard.`, 'success')
      window.setTimeout(() => { copyButton.textContent = 'Copy' }, 2000)
    } else {
      setStatus('Could not copy automatically — select the link and copy it by hand.', 'error')
    }
  })
  return h('div', { class: 'link-row' },
    h('div', { class: 'link-head' },
      h('span', { class: 'link-label', id: `${id}-label` }, label),
      h('span', { class: 'muted small' }, hint)),
    h('div', { class: 'link-box-row' },
      h('code', {
        id,
        class: 'link-box',
        tabindex: '0',
        'aria-labelledby': `${id}-label`,
        dataset: { url }
      }, url),
      copyButton))
}

/** "#/share/<id>": the creator's invite links. */
export function renderShare (root, sessionId) {
  const credentials = loadCredentials(sessionId)
  if (!credentials || !credentials.invites || (!credentials.invites.candidate && !credentials.invites.interviewer)) {
    root.append(h('section', { class: 'card narrow' },
      h('h1', { tabindex: '-1' }, 'No invite links here'),
      h('p', null, 'Invite links are only shown in the browser that created the session.'),
      credentials
        ? h('p', null, h('a', { class: 'btn btn-primary', id: 'open-editor', href: editorHash(sessionId) }, 'Open editor'))
        : h('p', null, h('a', { href: '#/' }, 'Start a new session'))))
    return
  }
  const { invites } = credentials
  const openEditor = h('button', { id: 'open-editor', type: 'button', class: 'btn btn-primary' }, 'Open editor')
  openEditor.addEventListener('click', () => { window.location.hash = editorHash(sessionId) })

  root.append(
    h('section', { class: 'card', 'aria-labelledby': 'share-title' },
      h('h1', { id: 'share-title', tabindex: '-1' }, 'Session ready'),
      h('p', { class: 'lede' }, 'Send the candidate link to the person you are interviewing. Share the interviewer link only with co-interviewers.'),
      h('div', { class: 'stack' },
        invites.candidate && linkRow('candidate-link', 'Candidate link', 'joins as candidate', joinLink(sessionId, invites.candidate)),
        invites.interviewer && linkRow('interviewer-link', 'Interviewer link', 'joins as interviewer', joinLink(sessionId, invites.interviewer))),
      h('div', { class: 'actions' }, openEditor)))
  openEditor.focus()
}
