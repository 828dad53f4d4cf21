// Remote carets and selections for CodeMirror 6 + Yjs awareness.
//
// Replaces y-codemirror.next's `yRemoteSelections` plugin (same awareness format: `cursor` =
// {anchor, head} as Yjs relative positions, `user` = {name, color, colorLight}), with labels
// that stay out of the way: the coloured caret bar and the selection tint are always shown,
// the name label only while the pointer is on the caret and for a moment after that user's
// cursor moved (typing moves it), then it fades out. On the first line the label hangs below
// the caret instead of above it, so it is never clipped.
import * as Y from 'yjs'
import { Annotation, RangeSet } from '@codemirror/state'
import { Decoration, EditorView, ViewPlugin, WidgetType } from '@codemirror/view'

/** How long a name label stays up after its user's cursor moved. */
export const LABEL_VISIBLE_MS = 2000

const redraw = Annotation.define()

class RemoteCaretWidget extends WidgetType {
  /**
   * @param {number} clientId awareness client id (one caret per client)
   * @param {string} color caret and label colour (already sanitised)
   * @param {string} name
   * @param {boolean} active show the name label (recent activity)
   * @param {boolean} below hang the label below the caret (first line)
   */
  constructor (clientId, color, name, active, below) {
    super()
    this.clientId = clientId
    this.color = color
    this.name = name
    this.active = active
    this.below = below
  }

  eq (other) {
    return other.clientId === this.clientId && other.color === this.color && other.name === this.name &&
      other.active === this.active && other.below === this.below
  }

  toDOM () {
    const caret = document.createElement('span')
    caret.className = 'cm-ySelectionCaret'
    // The participants list names everyone; a screen reader should not read names inside the code.
    caret.setAttribute('aria-hidden', 'true')
    caret.dataset.clientId = String(this.clientId)
    const dot = document.createElement('span')
    dot.className = 'cm-ySelectionCaretDot'
    const info = document.createElement('span')
    info.className = 'cm-ySelectionInfo'
    caret.append('\u2060', dot, '\u2060', info, '\u2060')
    this.updateDOM(caret)
    return caret
  }

  /**
   * Update the caret in place (CodeMirror offers the DOM of a widget being replaced): the label
   * keeps its element, so switching `active` off fades it out instead of making it vanish.
   * @param {HTMLElement} dom
   */
  updateDOM (dom) {
    if (dom.dataset.clientId !== String(this.clientId)) return false
    const info = dom.querySelector('.cm-ySelectionInfo')
    if (!info) return false
    dom.style.backgroundColor = this.color
    dom.style.borderColor = this.color
    dom.classList.toggle('cm-ySelectionCaret-active', this.active)
    dom.classList.toggle('cm-ySelectionCaret-below', this.below)
    if (info.textContent !== this.name) info.textContent = this.name
    return true
  }

  get estimatedHeight () { return -1 }

  // Let CodeMirror handle clicks on the caret's hover area like clicks on the text around it.
  ignoreEvent () { return false }
}

const selectionMark = (colorLight) => Decoration.mark({
  attributes: { style: `background-color: ${colorLight}` },
  class: 'cm-ySelection'
})

/**
 * @param {Y.Text} ytext
 * @param {import('y-protocols/awareness').Awareness} awareness
 */
export function remoteCursors (ytext, awareness) {
  const plugin = ViewPlugin.fromClass(class {
    /** @param {EditorView} view */
    constructor (view) {
      this.view = view
      this.decorations = RangeSet.of([])
      /** @type {Map<number, string>} last seen cursor per remote client */
      this.cursors = new Map()
      /** @type {Map<number, number>} label visible until (ms) per remote client */
      this.activeUntil = new Map()
      /** @type {Map<number, number>} timers that hide the label again */
      this.timers = new Map()
      this.destroyed = false
      this.onChange = ({ added, updated, removed }) => {
        if (this.destroyed) return
        const local = awareness.doc.clientID
        const states = awareness.getStates()
        let remote = false
        for (const clientId of removed) {
          if (clientId === local) continue
          remote = true
          this.forget(clientId)
        }
        for (const clientId of added.concat(updated)) {
          if (clientId === local) continue
          remote = true
          const cursor = states.get(clientId)?.cursor
          const key = cursor && cursor.head ? JSON.stringify([cursor.anchor, cursor.head]) : ''
          if (key !== (this.cursors.get(clientId) || '')) {
            this.cursors.set(clientId, key)
            if (key) this.markActive(clientId)
          }
        }
        if (remote) this.redraw()
      }
      awareness.on('change', this.onChange)
      // Remote users already present when the editor opens: show who is where, briefly.
      awareness.getStates().forEach((state, clientId) => {
        if (clientId === awareness.doc.clientID || !state.cursor) return
        this.cursors.set(clientId, JSON.stringify([state.cursor.anchor, state.cursor.head]))
        this.markActive(clientId)
      })
    }

    markActive (clientId) {
      this.activeUntil.set(clientId, Date.now() + LABEL_VISIBLE_MS)
      clearTimeout(this.timers.get(clientId))
      this.timers.set(clientId, window.setTimeout(() => {
        this.timers.delete(clientId)
        this.redraw()
      }, LABEL_VISIBLE_MS + 20))
    }

    forget (clientId) {
      clearTimeout(this.timers.get(clientId))
      this.timers.delete(clientId)
      this.activeUntil.delete(clientId)
      this.cursors.delete(clientId)
    }

    redraw () {
      if (!this.destroyed) this.view.dispatch({ annotations: [redraw.of(true)] })
    }

    destroy () {
      this.destroyed = true
      awareness.off('change', this.onChange)
      for (const timer of this.timers.values()) clearTimeout(timer)
      this.timers.clear()
    }

    /** @param {import('@codemirror/view').ViewUpdate} update */
    update (update) {
      this.publishLocalCursor(update)
      this.decorations = this.build(update.state)
    }

    /** Our own selection goes into awareness (as y-codemirror.next's plugin does). */
    publishLocalCursor (update) {
      const local = awareness.getLocalState()
      if (local == null) return
      const hasFocus = update.view.hasFocus && update.view.dom.ownerDocument.hasFocus()
      const sel = hasFocus ? update.state.selection.main : null
      if (sel != null) {
        const anchor = Y.createRelativePositionFromTypeIndex(ytext, sel.anchor)
        const head = Y.createRelativePositionFromTypeIndex(ytext, sel.head)
        const current = local.cursor
        if (current == null ||
          !Y.compareRelativePositions(Y.createRelativePositionFromJSON(current.anchor), anchor) ||
          !Y.compareRelativePositions(Y.createRelativePositionFromJSON(current.head), head)) {
          awareness.setLocalStateField('cursor', { anchor, head })
        }
      } else if (local.cursor != null && hasFocus) {
        awareness.setLocalStateField('cursor', null)
      }
    }

    /** @param {import('@codemirror/state').EditorState} state */
    build (state) {
      const ydoc = /** @type {Y.Doc} */ (ytext.doc)
      const now = Date.now()
      const decorations = []
      awareness.getStates().forEach((aw, clientId) => {
        if (clientId === awareness.doc.clientID) return
        const cursor = aw.cursor
        if (cursor == null || cursor.anchor == null || cursor.head == null) return
        const anchor = Y.createAbsolutePositionFromRelativePosition(cursor.anchor, ydoc)
        const head = Y.createAbsolutePositionFromRelativePosition(cursor.head, ydoc)
        if (anchor == null || head == null || anchor.type !== ytext || head.type !== ytext) return
        const length = state.doc.length
        const anchorPos = Math.min(anchor.index, length)
        const headPos = Math.min(head.index, length)
        const { color = '#30bced', name = 'Anonymous' } = aw.user || {}
        const colorLight = (aw.user && aw.user.colorLight) || color + '33'
        const from = Math.min(anchorPos, headPos)
        const to = Math.max(anchorPos, headPos)
        const startLine = state.doc.lineAt(from)
        const endLine = state.doc.lineAt(to)
        if (from < to) {
          if (startLine.number === endLine.number) {
            decorations.push(selectionMark(colorLight).range(from, to))
          } else {
            if (from < startLine.to) decorations.push(selectionMark(colorLight).range(from, startLine.to))
            if (endLine.from < to) decorations.push(selectionMark(colorLight).range(endLine.from, to))
            for (let i = startLine.number + 1; i < endLine.number; i++) {
              decorations.push(Decoration.line({
                attributes: { style: `background-color: ${colorLight}`, class: 'cm-yLineSelection' }
              }).range(state.doc.line(i).from))
            }
          }
        }
        const active = (this.activeUntil.get(clientId) || 0) > now
        const below = state.doc.lineAt(headPos).number === 1
        decorations.push(Decoration.widget({
          // Keep the caret outside the remote selection, next to the local cursor's side.
          side: headPos - anchorPos > 0 ? -1 : 1,
          widget: new RemoteCaretWidget(clientId, color, String(name), active, below)
        }).range(headPos))
      })
      return Decoration.set(decorations, true)
    }
  }, {
    decorations: (value) => value.decorations
  })
  return [plugin, remoteCursorTheme]
}

const remoteCursorTheme = EditorView.baseTheme({
  '.cm-yLineSelection': { padding: 0, margin: '0px 2px 0px 4px' },
  // The coloured bar: always visible.
  '.cm-ySelectionCaret': {
    position: 'relative',
    borderLeft: '2px solid black',
    borderRight: 'none',
    marginLeft: '-1px',
    marginRight: '-1px',
    boxSizing: 'border-box',
    display: 'inline'
  },
  // A wider, invisible hover target than the 2 px bar.
  '.cm-ySelectionCaret::after': {
    content: '""',
    position: 'absolute',
    top: '0',
    bottom: '0',
    left: '-5px',
    width: '9px'
  },
  '.cm-ySelectionCaretDot': {
    position: 'absolute',
    top: '-3px',
    left: '-4px',
    width: '6px',
    height: '6px',
    borderRadius: '50%',
    backgroundColor: 'inherit',
    transition: 'transform .2s ease-in-out',
    boxSizing: 'border-box'
  },
  '.cm-ySelectionCaret:hover > .cm-ySelectionCaretDot, .cm-ySelectionCaret-active > .cm-ySelectionCaretDot': {
    transform: 'scale(0)'
  },
  // The name: hidden unless hovered or recently active; never catches the pointer.
  '.cm-ySelectionInfo': {
    position: 'absolute',
    bottom: '100%',
    left: '-2px',
    zIndex: 10,
    padding: '1px 5px',
    borderRadius: '3px 3px 3px 0',
    backgroundColor: 'inherit',
    color: '#ffffff',
    fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    fontSize: '11px',
    fontStyle: 'normal',
    fontWeight: '600',
    lineHeight: '1.35',
    whiteSpace: 'nowrap',
    userSelect: 'none',
    pointerEvents: 'none',
    boxShadow: '0 1px 3px rgba(15, 23, 42, 0.25)',
    opacity: 0,
    transition: 'opacity .45s ease-in'
  },
  '.cm-ySelectionCaret-below > .cm-ySelectionInfo': {
    bottom: 'auto',
    top: '100%',
    borderRadius: '0 3px 3px 3px'
  },
  '.cm-ySelectionCaret:hover > .cm-ySelectionInfo, .cm-ySelectionCaret-active > .cm-ySelectionInfo': {
    opacity: 1,
    transition: 'opacity .1s ease-out'
  }
})
