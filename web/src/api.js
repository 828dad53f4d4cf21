// REST client for /api/v1. Every response is {"success": true, "data": ...} or
// {"success": false, "error": "<message>", "code": "..."} with a matching HTTP status.

export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status HTTP status (0 when the server could not be reached)
   * @param {string | undefined} code
   */
  constructor (message, status, code) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

/**
 * @param {string} path
 * @param {{ method?: string, body?: unknown, token?: string }} [options]
 */
export async function api (path, { method = 'GET', body, token } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  if (token) headers.Authorization = `Bearer ${token}`
  let response
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store'
    })
  } catch {
    throw new ApiError('Cannot reach the server. Check your connection and try again.', 0, 'network_error')
  }
  let payload = null
  const text = await response.text().catch(() => '')
  if (text) {
    try { payload = JSON.parse(text) } catch { payload = null }
  }
  if (!response.ok || (payload !== null && payload.success === false)) {
    const message = payload && typeof payload.error === 'string' && payload.error
      ? payload.error
      : `Request failed (HTTP ${response.status}${response.statusText ? ' ' + response.statusText : ''})`
    throw new ApiError(message, response.status, payload && payload.code ? String(payload.code) : undefined)
  }
  if (payload === null) return null // e.g. 204 No Content
  return payload.data
}

const enc = encodeURIComponent

export const createSession = (body) =>
  api('/api/v1/sessions', { method: 'POST', body })

export const getSession = (sessionId, token) =>
  api(`/api/v1/sessions/${enc(sessionId)}`, { token })

export const endSession = (sessionId, token) =>
  api(`/api/v1/sessions/${enc(sessionId)}`, { method: 'DELETE', token })

export const joinSession = (sessionId, body) =>
  api(`/api/v1/sessions/${enc(sessionId)}/participants`, { method: 'POST', body })

export const listParticipants = (sessionId, token) =>
  api(`/api/v1/sessions/${enc(sessionId)}/participants`, { token })

export const removeParticipant = (sessionId, participantId, token) =>
  api(`/api/v1/sessions/${enc(sessionId)}/participants/${enc(participantId)}`, { method: 'DELETE', token })
