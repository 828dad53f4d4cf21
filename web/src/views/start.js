import { h, setStatus, clearStatus } from '../dom.js'
import { createSession } from '../api.js'
import { saveCredentials, loadProfile, saveProfile } from '../store.js'
import { uuid, randomColor, LANGUAGES, isLanguage, shareHash } from '../util.js'

/** "#/": create a session. */
export function renderStart (root) {
  const profile = loadProfile()

  const nameInput = h('input', {
    id: 'start-name',
    name: 'name',
    type: 'text',
    required: true,
    maxlength: '80',
    autocomplete: 'name',
    value: profile.name || ''
  })
  const languageSelect = h('select', { id: 'start-language', name: 'language' },
    LANGUAGES.map((l) => h('option', { value: l.value, selected: l.value === (profile.language || 'javascript') }, l.label)))
  const submit = h('button', { id: 'start-submit', type: 'submit', class: 'btn btn-primary' }, 'Create session')

  const form = h('form', { class: 'stack', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: 'start-name' }, 'Your name'),
      nameInput),
    h('div', { class: 'field' },
      h('label', { for: 'start-language' }, 'Language'),
      languageSelect),
    h('div', { class: 'actions' }, submit))

  let busy = false
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    if (busy) return
    const name = nameInput.value.trim()
    const language = languageSelect.value
    if (!name) {
      setStatus('Please enter your name.', 'error')
      nameInput.setAttribute('aria-invalid', 'true')
      nameInput.focus()
      return
    }
    nameInput.removeAttribute('aria-invalid')
    if (!isLanguage(language)) return
    busy = true
    submit.disabled = true
    form.setAttribute('aria-busy', 'true')
    setStatus('Creating session…', 'info', { autoHide: false })
    const color = profile.color || randomColor()
    const creator = { id: uuid(), name, color }
    try {
      const data = await createSession({ creator, language })
      const me = (Array.isArray(data.participants) && data.participants.find((p) => p.id === (data.creator_id || creator.id))) ||
        { ...creator, role: 'interviewer' }
      saveCredentials(data.id, {
        token: data.token,
        participant: { id: me.id, name: me.name, role: me.role || 'interviewer', color: me.color || color },
        invites: data.invites || {},
        language: data.language || language
      })
      saveProfile({ name, color, language })
      clearStatus()
      window.location.replace(shareHash(data.id))
    } catch (error) {
      setStatus(error.message || 'Could not create the session.', 'error')
      busy = false
      submit.disabled = false
      form.removeAttribute('aria-busy')
    }
  })

  root.append(
    h('section', { class: 'card narrow', 'aria-labelledby': 'start-title' },
      h('h1', { id: 'start-title', tabindex: '-1' }, 'Start an interview'),
      h('p', { class: 'lede' }, 'Create a shared editor, then send the candidate their invite link.'),
      form))
  nameInput.focus()
}
