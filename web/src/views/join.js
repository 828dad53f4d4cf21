import { h, setStatus, clearStatus } from '../dom.js'
import { joinSession } from '../api.js'
import { loadCredentials, saveCredentials, loadProfile, saveProfile } from '../store.js'
import { uuid, randomColor, editorHash } from '../util.js'

/** "#/join/<id>/<invite>": ask for a name, then join. */
export function renderJoin (root, sessionId, invite) {
  const profile = loadProfile()
  const existing = loadCredentials(sessionId)

  const nameInput = h('input', {
    id: 'join-name',
    name: 'name',
    type: 'text',
    required: true,
    maxlength: '80',
    autocomplete: 'name',
    value: profile.name || ''
  })
  const submit = h('button', { id: 'join-submit', type: 'submit', class: 'btn btn-primary' }, 'Join session')
  const form = h('form', { class: 'stack', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: 'join-name' }, 'Your name'),
      nameInput),
    h('div', { class: 'actions' }, submit))

  let busy = false
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    if (busy) return
    const name = nameInput.value.trim()
    if (!name) {
      setStatus('Please enter your name.', 'error')
      nameInput.setAttribute('aria-invalid', 'true')
      nameInput.focus()
      return
    }
    nameInput.removeAttribute('aria-invalid')
    busy = true
    submit.disabled = true
    form.setAttribute('aria-busy', 'true')
    setStatus('Joining…', 'info', { autoHide: false })
    const color = profile.color || randomColor()
    const id = uuid()
    try {
      const data = await joinSession(sessionId, { invite, name, color, id })
      const { token, ...participant } = data
      saveCredentials(sessionId, {
        token,
        participant: { id: participant.id || id, name: participant.name || name, role: participant.role || 'candidate', color: participant.color || color, joined_at: participant.joined_at }
      })
      saveProfile({ name, color })
      clearStatus()
      window.location.replace(editorHash(sessionId))
    } catch (error) {
      setStatus(error.message || 'Could not join the session.', 'error')
      busy = false
      submit.disabled = false
      form.removeAttribute('aria-busy')
    }
  })

  root.append(
    h('section', { class: 'card narrow', 'aria-labelledby': 'join-title' },
      h('h1', { id: 'join-title', tabindex: '-1' }, 'Join the interview'),
      h('p', { class: 'lede' }, 'Enter the name the others will see next to your cursor.'),
      existing && h('p', { class: 'notice' },
        'You have already joined this session here as ',
        h('strong', null, existing.participant.name),
        '. ',
        h('a', { id: 'open-existing', href: editorHash(sessionId) }, 'Continue as ' + existing.participant.name),
        ', or join again below.'),
      form))
  nameInput.focus()
}
