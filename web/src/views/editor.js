import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { yCollab, yRemoteSelections, yRemoteSelectionsTheme, yUndoManagerKeymap } from 'y-codemirror.next'
import { basicSetup } from 'codemirror'
import { EditorView, keymap } from '@codemirror/view'
import { EditorState, Compartment, Prec } from '@codemirror/state'
import { indentWithTab } from '@codemirror/commands'
import { javascript } from '@codemirror/lang-javascript'
import { python } from '@codemirror/lang-python'
import { html } from '@codemirror/lang-html'

import { h, setStatus, clearStatus, debounce } from '../dom.js'
import { getSession, listParticipants, removeParticipant, endSession } from '../api.js'
import { loadCredentials, saveCredentials, updateParticipant, forgetCredentials } from '../store.js'
import { LANGUAGES, isLanguage, lightColor, safeColor, shareHash, formatTime } from '../util.js'
import { remoteCursors } from '../remote-cursors.js'

/**
 * WebSocket close codes after which reconnecting cannot help (see codeinterview/closecodes.py).
 * `forget` drops the stored token, so a reload asks for an invite link instead of failing again.
 */
const FATAL_CLOSE = {
  4400: { message: 'The server rejected the connection as malformed. Reload the page to try again.', forget: false },
  4401: { message: 'Your access to this session is no longer valid. Ask for a new invite link to rejoin.', forget: true },
  4403: { message: 'You were removed from this session.', forget: true },
  4404: { message: 'This session does not exist.', forget: true },
  4410: { message: 'This session has ended or expired. The code is now read-only.', forget: false }
}

/** HTTP statuses from the REST API with the same meaning. */
const FATAL_HTTP = { 401: 4401, 403: 4403, 404: 4404, 410: 4410 }

const languageExtension = (language) => {
  if (language === 'python') return python()
  if (language === 'html') return html()
  return javascript()
}

const languageLabel = (language) => (LANGUAGES.find((l) => l.value === language) || { label: language }).label

const editorTheme = EditorView.theme({
  '&': { height: '100%', fontSize: '14px', backgroundColor: '#ffffff' },
  '.cm-scroller': {
    fontFamily: 'ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace',
    lineHeight: '1.55'
  },
  '&.cm-focused': { outline: 'none' },
  '.cm-gutters': { backgroundColor: '#f8fafc', color: '#64748b', borderRight: '1px solid #e2e8f0' },
  '.cm-activeLineGutter': { backgroundColor: '#eef2ff', color: '#334155' }
})

/**
 * y-codemirror.next's binding (sync + undo) with its remote-selection plugin swapped for
 * ours (remote-cursors.js): carets always visible, name labels only on hover / recent activity.
 */
const collab = (ytext, awareness, undoManager) => [
  yCollab(ytext, awareness, { undoManager })
    .filter((extension) => extension !== yRemoteSelections && extension !== yRemoteSelectionsTheme),
  remoteCursors(ytext, awareness)
]

function wsBaseUrl () {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws'
  return `${scheme}://${window.location.host}/ws/sessions`
}

/** "#/s/<id>" without stored credentials. */
function renderNoAccess (root) {
  root.append(h('section', { class: 'card narrow', 'aria-labelledby': 'noaccess-title' },
    h('h1', { id: 'noaccess-title', tabindex: '-1' }, 'You are not in this session'),
    h('p', null, 'To join, open the invite link the interviewer sent you.'),
    h('p', null, h('a', { href: '#/' }, 'Or start a new session'))))
  setStatus('No access to this session in this browser. Use an invite link to join.', 'error')
}

/**
 * "#/s/<id>": the collaborative editor.
 * @returns {(() => void) | undefined} cleanup
 */
export function renderEditor (root, sessionId) {
  const credentials = loadCredentials(sessionId)
  if (!credentials) {
    renderNoAccess(root)
    return undefined
  }
  const { token } = credentials
  /** @type {import('../store.js').Participant} */
  let me = { ...credentials.participant }
  const isInterviewer = () => me.role === 'interviewer'
  let everConnected = false
  /** @type {null | number} fatal close code once the session is over for us */
  let fatal = null
  let destroyed = false
  let lastAuthCheck = 0
  let refreshTimer = 0
  let endingSession = false

  // ---------------------------------------------------------------- DOM
  const connectionBadge = h('span', { id: 'connection-status', class: 'badge', dataset: { state: 'connecting' } }, 'connecting')
  const connectionDetail = h('span', { id: 'connection-detail', class: 'connection-detail' })
  const languageSelect = h('select', { id: 'language-select', name: 'language' },
    LANGUAGES.map((l) => h('option', { value: l.value }, l.label)))
  const endButton = h('button', { id: 'end-session', type: 'button', class: 'btn btn-danger' }, 'End session')
  const shareLink = h('a', { id: 'share-links', class: 'btn btn-secondary', href: shareHash(sessionId) }, 'Invite links')
  const interviewerTools = h('div', { class: 'toolbar-group' })
  const expiresEl = h('span', { class: 'muted small', id: 'session-expires' })
  // The one place that says why the session is over for us (announced as an alert, not
  // repeated in the #status-message toast).
  const banner = h('div', { id: 'session-banner', class: 'banner', role: 'alert', tabindex: '-1', hidden: true })

  const editorEl = h('div', { id: 'editor', class: 'editor-host' })
  const makePreviewFrame = () => h('iframe', { id: 'preview', title: 'HTML preview', sandbox: 'allow-scripts', referrerpolicy: 'no-referrer' })
  let preview = makePreviewFrame()
  const previewPane = h('section', { class: 'preview-pane', 'aria-labelledby': 'preview-title', hidden: true },
    h('h2', { id: 'preview-title', class: 'pane-title' }, 'Preview'),
    preview)
  const participantsList = h('ul', { id: 'participants', class: 'participants', 'aria-labelledby': 'participants-title' })
  const participantsTitle = h('h2', { id: 'participants-title', class: 'pane-title', tabindex: '-1' }, 'Participants')

  const dialogConfirm = h('button', { id: 'end-session-confirm', type: 'submit', value: 'confirm', class: 'btn btn-danger' }, 'End session')
  const dialogCancel = h('button', { id: 'end-session-cancel', type: 'submit', value: 'cancel', class: 'btn btn-secondary', autofocus: true }, 'Cancel')
  const dialog = h('dialog', { id: 'end-session-dialog', class: 'dialog', 'aria-labelledby': 'end-dialog-title', 'aria-describedby': 'end-dialog-desc' },
    h('form', { method: 'dialog', class: 'stack' },
      h('h2', { id: 'end-dialog-title' }, 'End this session?'),
      h('p', { id: 'end-dialog-desc' }, 'Everyone is disconnected and the code becomes read-only. This cannot be undone.'),
      h('div', { class: 'actions' }, dialogCancel, dialogConfirm)))

  const workspace = h('div', { class: 'workspace' },
    h('section', { class: 'editor-pane', 'aria-label': 'Code' },
      editorEl,
      h('p', { class: 'hint', id: 'editor-hint' }, 'Tab indents. Press Esc, then Tab, to move focus out of the editor.')),
    previewPane,
    h('aside', { class: 'sidebar', 'aria-labelledby': 'participants-title' },
      participantsTitle,
      participantsList))

  root.append(h('section', { class: 'editor-screen' },
    h('div', { class: 'toolbar' },
      h('div', { class: 'toolbar-group' },
        h('h1', { class: 'session-title', tabindex: '-1' }, 'Interview ', h('code', { title: sessionId }, sessionId.slice(0, 8))),
        connectionBadge,
        connectionDetail),
      h('div', { class: 'toolbar-group' },
        expiresEl,
        h('label', { for: 'language-select', class: 'inline-label' }, 'Language'),
        languageSelect,
        interviewerTools)),
    banner,
    workspace,
    dialog))

  // ---------------------------------------------------------------- Yjs + provider
  const ydoc = new Y.Doc()
  const ytext = ydoc.getText('code')
  const meta = ydoc.getMap('meta')
  const provider = new WebsocketProvider(wsBaseUrl(), sessionId, ydoc, {
    params: { token },
    connect: false,
    // Tabs of the same browser would otherwise sync through BroadcastChannel, bypassing the
    // server (and its authorisation); the server is the only relay.
    disableBc: true
  })
  const awareness = provider.awareness
  const setLocalUser = () => {
    awareness.setLocalStateField('user', {
      id: me.id,
      name: me.name,
      role: me.role,
      color: safeColor(me.color, '#2563eb'),
      colorLight: lightColor(me.color)
    })
  }
  setLocalUser()

  // Other clients write their own awareness state, and y-codemirror.next puts `user.color` /
  // `user.colorLight` into a style attribute: keep only plain colour values. Registered before
  // the editor exists, so it runs before the remote-selection plugin's own 'change' listener.
  const sanitizeRemoteUsers = ({ added, updated }) => {
    const states = awareness.getStates()
    for (const clientId of added.concat(updated)) {
      if (clientId === ydoc.clientID) continue
      const user = states.get(clientId)?.user
      if (!user || typeof user !== 'object') continue
      user.color = safeColor(user.color, '#30bced')
      user.colorLight = safeColor(user.colorLight, lightColor(user.color))
      if (typeof user.name !== 'string' || !user.name.trim()) user.name = 'Anonymous'
      else if (user.name.length > 60) user.name = user.name.slice(0, 60) + '…'
    }
  }
  awareness.on('change', sanitizeRemoteUsers)

  // ---------------------------------------------------------------- CodeMirror
  const languageConf = new Compartment()
  const editableConf = new Compartment()
  let language = isLanguage(meta.get('language')) ? meta.get('language')
    : isLanguage(credentials.language) ? credentials.language : 'javascript'
  let languageFromDoc = false
  const undoManager = new Y.UndoManager(ytext)
  const view = new EditorView({
    parent: editorEl,
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        Prec.high(keymap.of([...yUndoManagerKeymap, indentWithTab])),
        basicSetup,
        languageConf.of(languageExtension(language)),
        editableConf.of([]),
        EditorView.contentAttributes.of({ 'aria-label': 'Code editor', 'aria-describedby': 'editor-hint' }),
        collab(ytext, awareness, undoManager),
        editorTheme
      ]
    })
  })

  // ---------------------------------------------------------------- language + preview
  /**
   * Show the current text in the sandboxed preview. A fresh iframe each time: it resets the
   * previous run's scripts, and Chromium's reload-time frame-state restoration would otherwise
   * leave a reused srcdoc frame blank after the page is reloaded.
   */
  function renderPreview () {
    const fresh = makePreviewFrame()
    fresh.srcdoc = ytext.toString()
    preview.replaceWith(fresh)
    preview = fresh
  }
  const updatePreview = debounce(renderPreview, 300)

  function applyLanguage (next) {
    if (!isLanguage(next)) return
    const changed = next !== language
    language = next
    languageSelect.value = next
    if (changed) view.dispatch({ effects: languageConf.reconfigure(languageExtension(next)) })
    const showPreview = next === 'html'
    previewPane.hidden = !showPreview
    workspace.classList.toggle('has-preview', showPreview)
    if (showPreview) {
      updatePreview.cancel()
      renderPreview()
    } else {
      updatePreview.cancel()
    }
  }
  applyLanguage(language)
  // applyLanguage skips reconfiguring when unchanged; make sure preview state matches the first time.
  languageSelect.value = language

  const onMetaChange = (event) => {
    if (!event.keysChanged.has('language')) return
    const value = meta.get('language')
    if (!isLanguage(value)) return
    languageFromDoc = true
    if (value !== language && !event.transaction.local) setStatus(`Language switched to ${languageLabel(value)}.`)
    // Not inside the Yjs transaction: a sync update can carry both this key and text that
    // y-codemirror has not yet applied to the view, and reconfiguring the view now would let
    // the remote-selection plugin map cursors into the stale (shorter) document.
    queueMicrotask(() => { if (!destroyed) applyLanguage(meta.get('language')) })
  }
  meta.observe(onMetaChange)

  const onTextChange = () => { if (language === 'html') updatePreview() }
  ytext.observe(onTextChange)

  languageSelect.addEventListener('change', () => {
    const value = languageSelect.value
    if (!isLanguage(value) || fatal) {
      languageSelect.value = language
      return
    }
    meta.set('language', value) // observed above: switches everyone's editor, including ours
  })

  // ---------------------------------------------------------------- participants
  /** @type {Array<any>} */
  let participants = []
  let fetchFailures = 0

  function onlineIds () {
    const ids = new Set()
    awareness.getStates().forEach((state, clientId) => {
      if (clientId === ydoc.clientID && !provider.wsconnected) return
      const id = state && state.user && state.user.id
      if (typeof id === 'string') ids.add(id)
    })
    return ids
  }

  function renderParticipants () {
    const seen = onlineIds()
    const items = participants
      .filter((p) => p && typeof p.id === 'string' && !p.removed && !p.removed_at)
      .map((p) => {
        // After a fatal close nothing we know about presence is current any more.
        const online = fatal === null && (seen.has(p.id) || (p.id !== me.id && p.is_online === true))
        const isMe = p.id === me.id
        const name = typeof p.name === 'string' && p.name ? p.name : 'Anonymous'
        const role = typeof p.role === 'string' ? p.role : 'participant'
        let removeButton = null
        if (isInterviewer() && !isMe && !fatal) {
          removeButton = h('button', {
            type: 'button',
            class: 'btn btn-small btn-quiet',
            'data-testid': 'remove-participant',
            'aria-label': `Remove ${name}`
          }, 'Remove')
          removeButton.addEventListener('click', () => onRemove(p, removeButton))
        }
        return h('li', {
          class: 'participant',
          dataset: { participantId: p.id, online: String(online), role }
        },
        h('span', { class: 'avatar', 'aria-hidden': 'true', style: { backgroundColor: safeColor(p.color) } }, name.trim().charAt(0).toUpperCase() || '?'),
        h('span', { class: 'participant-main' },
          h('span', { class: 'participant-name' }, name, isMe ? h('span', { class: 'muted' }, ' (you)') : null),
          h('span', { class: 'participant-meta' },
            h('span', { class: `role role-${role}` }, role),
            h('span', { class: 'presence', dataset: { online: String(online) } },
              h('span', { class: 'dot', 'aria-hidden': 'true' }),
              online ? 'online' : 'offline'))),
        removeButton)
      })
    const focusedTestId = document.activeElement && participantsList.contains(document.activeElement)
      ? document.activeElement.closest('li')?.dataset.participantId
      : null
    participantsList.replaceChildren(...items)
    if (items.length === 0) participantsList.append(h('li', { class: 'muted small empty' }, 'Loading participants…'))
    // Keep keyboard focus on the same row's button across re-renders.
    if (focusedTestId) {
      const again = participantsList.querySelector(`li[data-participant-id="${CSS.escape(focusedTestId)}"] button`)
      if (again) again.focus()
    }
  }

  function setParticipants (list) {
    if (!Array.isArray(list)) return
    participants = list
    const mine = list.find((p) => p && p.id === me.id)
    if (mine && ((mine.role && mine.role !== me.role) || (mine.name && mine.name !== me.name))) {
      me = { ...me, role: mine.role || me.role, name: mine.name || me.name, color: mine.color || me.color }
      updateParticipant(sessionId, { role: me.role, name: me.name, color: me.color })
      setLocalUser()
      renderControls()
    }
    renderParticipants()
  }

  async function refreshParticipants () {
    if (fatal || destroyed) return
    try {
      const list = await listParticipants(sessionId, token)
      if (destroyed) return
      fetchFailures = 0
      setParticipants(list)
    } catch (error) {
      if (destroyed) return
      if (FATAL_HTTP[error.status]) return handleFatal(FATAL_HTTP[error.status], error.message)
      fetchFailures += 1
      if (fetchFailures === 1) setStatus(`Could not load participants: ${error.message}`, 'error')
    }
  }
  const refreshSoon = debounce(refreshParticipants, 400)
  const refreshLater = debounce(refreshParticipants, 2500)

  const onAwarenessChange = ({ added, removed }) => {
    renderParticipants()
    if (added.length || removed.length) {
      refreshSoon()
      refreshLater() // the server may record a disconnect a moment after the awareness update
    }
  }
  awareness.on('change', onAwarenessChange)

  async function onRemove (participant, button) {
    if (!isInterviewer() || fatal) return
    button.disabled = true
    try {
      await removeParticipant(sessionId, participant.id, token)
      setStatus(`Removed ${participant.name || 'participant'} from the session.`, 'success')
      participants = participants.filter((p) => p.id !== participant.id)
      renderParticipants()
      participantsTitle.focus()
      refreshSoon()
    } catch (error) {
      button.disabled = false
      if (FATAL_HTTP[error.status] && error.status !== 404) return handleFatal(FATAL_HTTP[error.status], error.message)
      setStatus(error.message || 'Could not remove the participant.', 'error')
    }
  }

  // ---------------------------------------------------------------- interviewer controls
  function renderControls () {
    const tools = []
    if (isInterviewer() && !fatal) {
      if (credentials.invites && (credentials.invites.candidate || credentials.invites.interviewer)) tools.push(shareLink)
      tools.push(endButton)
    }
    interviewerTools.replaceChildren(...tools)
    renderParticipants()
  }

  endButton.addEventListener('click', () => {
    if (!isInterviewer() || fatal) return
    dialog.returnValue = ''
    dialog.showModal()
    dialogCancel.focus()
  })
  dialog.addEventListener('close', async () => {
    if (dialog.returnValue !== 'confirm' || fatal) return
    endButton.disabled = true
    setStatus('Ending the session…', 'info', { autoHide: false })
    endingSession = true
    try {
      await endSession(sessionId, token)
      handleFatal(4410)
    } catch (error) {
      endingSession = false
      endButton.disabled = false
      if (FATAL_HTTP[error.status]) return handleFatal(FATAL_HTTP[error.status], error.message)
      setStatus(error.message || 'Could not end the session.', 'error')
      endButton.focus()
    }
  })

  // ---------------------------------------------------------------- connection state
  /** @param {'connected' | 'connecting' | 'reconnecting' | 'disconnected'} state */
  function setConnection (state, detail = '') {
    connectionBadge.dataset.state = state
    // The badge text is exactly one of connected / connecting / disconnected;
    // "reconnecting" is a flavour of connecting, shown in data-state and the detail text.
    connectionBadge.textContent = state === 'reconnecting' ? 'connecting' : state
    connectionBadge.setAttribute('aria-label', `Connection: ${state}`)
    connectionDetail.textContent = detail
  }

  function handleFatal (code, message) {
    if (fatal !== null || destroyed) return
    fatal = code
    const info = FATAL_CLOSE[code] || { message: 'The connection was closed by the server.', forget: false }
    const text = message || (code === 4410 && endingSession ? 'You ended the session. The code is now read-only.' : info.message)
    provider.shouldConnect = false
    window.setTimeout(() => { if (!destroyed) provider.disconnect() }, 0)
    setConnection('disconnected', code === 4410 ? 'Session ended' : 'Not connected')
    view.dispatch({ effects: editableConf.reconfigure([EditorView.editable.of(false), EditorState.readOnly.of(true)]) })
    languageSelect.disabled = true
    if (dialog.open) dialog.close()
    banner.hidden = false
    banner.replaceChildren(
      h('strong', null, text),
      ' ',
      h('a', { href: '#/' }, 'Start a new session'))
    // Drop any pending toast ("Ending the session…", "Connection lost…"): the banner says it all.
    clearStatus()
    if (info.forget) forgetCredentials(sessionId)
    clearInterval(refreshTimer)
    renderControls()
    // The control that had focus (End session, a Remove button) may be gone now: keep keyboard
    // users in the page by moving focus to the banner.
    const active = document.activeElement
    if (!active || active === document.body || !active.isConnected) banner.focus({ preventScroll: false })
  }

  provider.on('status', ({ status }) => {
    if (fatal !== null || destroyed) return
    if (status === 'connected') {
      const wasReconnect = everConnected
      everConnected = true
      setConnection('connected')
      if (wasReconnect) setStatus('Reconnected.', 'success')
      refreshSoon()
    } else if (status === 'connecting') {
      setConnection(everConnected ? 'reconnecting' : 'connecting',
        everConnected ? 'Reconnecting… your edits are kept and will sync.' : connectionDetail.textContent)
    } else if (status === 'disconnected') {
      setConnection('disconnected', 'Connection lost')
      setStatus('Connection lost. Reconnecting…', 'error')
    }
    renderParticipants()
  })

  provider.on('connection-close', (event) => {
    if (destroyed || fatal !== null) return
    const code = event && typeof event.code === 'number' ? event.code : 0
    if (FATAL_CLOSE[code]) {
      handleFatal(code)
      return
    }
    if (!provider.wsconnected && provider.wsUnsuccessfulReconnects >= 2) {
      // The socket keeps failing before it opens: the token may have been refused at the
      // handshake (the browser then only sees 1006). Ask the REST API, at most every 10 s.
      connectionDetail.textContent = 'Cannot reach the server — retrying…'
      const now = Date.now()
      if (now - lastAuthCheck > 10_000) {
        lastAuthCheck = now
        getSession(sessionId, token).catch((error) => {
          if (FATAL_HTTP[error.status]) handleFatal(FATAL_HTTP[error.status], error.message)
        })
      }
    }
  })

  provider.on('sync', (synced) => {
    if (!synced || destroyed) return
    const value = meta.get('language')
    if (isLanguage(value)) applyLanguage(value)
  })

  // ---------------------------------------------------------------- session data
  getSession(sessionId, token).then((session) => {
    if (destroyed || !session) return
    if (session.expires_at) expiresEl.textContent = `Expires ${formatTime(session.expires_at)}`
    if (!languageFromDoc && !isLanguage(meta.get('language')) && isLanguage(session.language)) applyLanguage(session.language)
    if (Array.isArray(session.participants)) setParticipants(session.participants)
    if (session.invites && typeof session.invites === 'object' && (session.invites.candidate || session.invites.interviewer)) {
      // Interviewers get the invites with the session; keep them so "Invite links" works for
      // co-interviewers and after the creator's share screen is gone.
      credentials.invites = session.invites
      const stored = loadCredentials(sessionId)
      if (stored) saveCredentials(sessionId, { ...stored, invites: session.invites })
      renderControls()
    }
  }).catch((error) => {
    if (destroyed) return
    if (FATAL_HTTP[error.status]) handleFatal(FATAL_HTTP[error.status], error.message)
    else setStatus(`Could not load the session: ${error.message}`, 'error')
  })

  refreshTimer = window.setInterval(() => { if (provider.wsconnected) refreshParticipants() }, 20_000)
  const onPageHide = () => { awareness.setLocalState(null) }
  window.addEventListener('pagehide', onPageHide)

  setConnection('connecting')
  renderControls()
  refreshParticipants()
  provider.connect()

  return () => {
    destroyed = true
    clearInterval(refreshTimer)
    refreshSoon.cancel()
    refreshLater.cancel()
    updatePreview.cancel()
    window.removeEventListener('pagehide', onPageHide)
    awareness.off('change', onAwarenessChange)
    awareness.off('change', sanitizeRemoteUsers)
    meta.unobserve(onMetaChange)
    ytext.unobserve(onTextChange)
    if (dialog.open) dialog.close()
    try { awareness.setLocalState(null) } catch { /* ignore */ }
    provider.destroy()
    awareness.destroy()
    view.destroy()
    undoManager.destroy()
    ydoc.destroy()
  }
}
