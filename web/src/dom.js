// Tiny DOM helpers: everything user-supplied goes through textContent / properties, never innerHTML.

/**
 * h('button', { id: 'x', class: 'btn', onclick: fn, dataset: { a: '1' } }, 'label', child)
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h (tag, attrs, ...children) {
  const el = document.createElement(tag)
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue
      if (key === 'class') el.className = value
      else if (key === 'dataset') Object.assign(el.dataset, value)
      else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value)
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value)
      else if (key in el && typeof value !== 'string') el[key] = value
      else el.setAttribute(key, value === true ? '' : String(value))
    }
  }
  append(el, children)
  return el
}

function append (el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue
    if (Array.isArray(child)) append(el, child)
    else el.append(child instanceof Node ? child : String(child))
  }
}

// ------------------------------------------------------------------ status toast
// `#status-message` (role=status, aria-live=polite) sits in a fixed-position toast
// (`#status-toast`), so messages never move the page. Info and success messages hide by
// themselves after a few seconds (not while the pointer or keyboard focus is on the toast);
// errors stay until dismissed (× button or Esc) or replaced. The live region itself is never
// display:none or visibility:hidden, so screen readers announce every new text.

const AUTO_HIDE_MS = 5000
const FADE_MS = 200

const toastState = {
  wired: false,
  autoHide: false,
  paused: false,
  hideTimer: 0,
  clearTimer: 0,
  /** @type {HTMLElement | null} where focus was before it entered the toast */
  returnFocus: null
}

function toastParts () {
  const message = document.getElementById('status-message')
  const toast = document.getElementById('status-toast')
  const close = document.getElementById('status-dismiss')
  return { message, toast, close }
}

function wireToast () {
  if (toastState.wired) return
  const { toast, close } = toastParts()
  if (!toast) return
  toastState.wired = true
  close?.addEventListener('click', () => dismissStatus())
  toast.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault()
      dismissStatus()
    }
  })
  const pause = () => {
    toastState.paused = true
    clearTimeout(toastState.hideTimer)
  }
  const resume = () => {
    if (toast.matches(':hover') || toast.contains(document.activeElement)) return
    toastState.paused = false
    scheduleHide()
  }
  toast.addEventListener('pointerenter', pause)
  toast.addEventListener('pointerleave', resume)
  toast.addEventListener('focusin', (event) => {
    const from = event.relatedTarget
    if (from instanceof HTMLElement && !toast.contains(from)) toastState.returnFocus = from
    pause()
  })
  toast.addEventListener('focusout', (event) => {
    if (event.relatedTarget instanceof Node && toast.contains(event.relatedTarget)) return
    // focusout fires before focus lands elsewhere; check once it has.
    setTimeout(resume, 0)
  })
}

function scheduleHide () {
  clearTimeout(toastState.hideTimer)
  if (!toastState.autoHide || toastState.paused) return
  toastState.hideTimer = window.setTimeout(() => hideToast(), AUTO_HIDE_MS)
}

/** Fade the toast out, then empty the live region (so the next message is announced afresh). */
function hideToast () {
  const { message, toast, close } = toastParts()
  clearTimeout(toastState.hideTimer)
  clearTimeout(toastState.clearTimer)
  toastState.autoHide = false
  if (toast) toast.dataset.visible = 'false'
  if (close) {
    if (close === document.activeElement) {
      const back = toastState.returnFocus
      if (back && back.isConnected && !back.closest('[hidden], [inert]')) back.focus()
      else document.querySelector('#app h1')?.focus()
    }
    close.hidden = true
  }
  toastState.paused = false
  toastState.returnFocus = null
  toastState.clearTimer = window.setTimeout(() => {
    if (!message) return
    message.textContent = ''
    message.dataset.kind = 'info'
    if (toast) toast.dataset.kind = 'info'
  }, FADE_MS)
}

/**
 * Show a message in the status toast (the page's aria-live region).
 * @param {string} message
 * @param {'info' | 'success' | 'error'} [kind]
 * @param {{ autoHide?: boolean }} [options] autoHide defaults to true except for errors;
 *   pass false for progress messages that a result replaces ("Joining…").
 */
export function setStatus (message, kind = 'info', options = {}) {
  const { message: el, toast, close } = toastParts()
  if (!el) return
  wireToast()
  const text = String(message ?? '')
  if (!text) {
    clearStatus()
    return
  }
  clearTimeout(toastState.clearTimer)
  el.dataset.kind = kind
  if (el.textContent !== text) el.textContent = text
  if (toast) {
    toast.dataset.kind = kind
    toast.dataset.visible = 'true'
  }
  if (close) close.hidden = false
  toastState.autoHide = options.autoHide ?? kind !== 'error'
  scheduleHide()
}

/** Hide the toast and empty the live region. */
export function clearStatus () {
  const { message } = toastParts()
  if (!message) return
  hideToast()
}

/** The user closed the toast (× or Esc). */
export function dismissStatus () {
  hideToast()
}

/**
 * Copy text to the clipboard, falling back to a hidden textarea where the async API is unavailable
 * (plain-http origins other than localhost).
 * @param {string} text
 */
export async function copyText (text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text)
      return true
    } catch { /* fall through */ }
  }
  const area = h('textarea', { readonly: true, 'aria-hidden': 'true', class: 'visually-hidden' })
  area.value = text
  document.body.append(area)
  area.select()
  let ok = false
  try { ok = document.execCommand('copy') } catch { ok = false }
  area.remove()
  return ok
}

/**
 * @template {(...args: any[]) => void} F
 * @param {F} fn
 * @param {number} ms
 */
export function debounce (fn, ms) {
  let timer = 0
  const debounced = (...args) => {
    clearTimeout(timer)
    timer = window.setTimeout(() => fn(...args), ms)
  }
  debounced.cancel = () => clearTimeout(timer)
  return debounced
}
