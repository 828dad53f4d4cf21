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

/**
 * Show a message in the page's aria-live region.
 * @param {string} message
 * @param {'info' | 'success' | 'error'} [kind]
 */
export function setStatus (message, kind = 'info') {
  const el = document.getElementById('status-message')
  if (!el) return
  el.dataset.kind = kind
  el.textContent = message
}

export function clearStatus () {
  const el = document.getElementById('status-message')
  if (!el) return
  el.textContent = ''
  el.dataset.kind = 'info'
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
