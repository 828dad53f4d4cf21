// Per-session credentials in localStorage: "codeinterview:<sessionId>" -> {token, participant, invites?}.
// Reloading the page keeps you in the session.

const PREFIX = 'codeinterview:'
const PROFILE_KEY = 'codeinterview-profile'

/**
 * @typedef {{ id: string, name: string, role: string, color: string, joined_at?: string, is_online?: boolean }} Participant
 * @typedef {{ token: string, participant: Participant, invites?: { candidate?: string, interviewer?: string }, language?: string }} Credentials
 */

function read (key) {
  try {
    const raw = window.localStorage.getItem(key)
    return raw ? JSON.parse(raw) : null
  } catch {
    return null
  }
}

function write (key, value) {
  try {
    window.localStorage.setItem(key, JSON.stringify(value))
    return true
  } catch {
    return false
  }
}

/** @returns {Credentials | null} */
export function loadCredentials (sessionId) {
  const value = read(PREFIX + sessionId)
  if (!value || typeof value.token !== 'string' || !value.participant || typeof value.participant.id !== 'string') {
    return null
  }
  return value
}

/** @param {Credentials} credentials */
export function saveCredentials (sessionId, credentials) {
  return write(PREFIX + sessionId, credentials)
}

export function updateParticipant (sessionId, participant) {
  const current = loadCredentials(sessionId)
  if (current) saveCredentials(sessionId, { ...current, participant: { ...current.participant, ...participant } })
}

export function forgetCredentials (sessionId) {
  try { window.localStorage.removeItem(PREFIX + sessionId) } catch { /* ignore */ }
}

/** The name (and colour) you used last time, to prefill forms. */
export function loadProfile () {
  const value = read(PROFILE_KEY)
  return value && typeof value === 'object' ? value : {}
}

export function saveProfile (profile) {
  write(PROFILE_KEY, { ...loadProfile(), ...profile })
}
