/**
 * The left sidebar: the dashboard URL box, its panes, and the cluster list.
 *
 * A pane is opened by a click (beside the notebook) or dragged anywhere in
 * the main area (a Lumino drag carrying a widget factory, which the dock
 * panel understands).
 */
import { Drag } from '@lumino/dragdrop';
import { MimeData } from '@lumino/coreutils';
import { Panel, Widget } from '@lumino/widgets';

import { DashboardModel } from './api';
import { shoalIcon } from './icon';

const FACTORY_MIME = 'application/vnd.lumino.widget-factory';
const DRAG_THRESHOLD = 5;

export interface ISidebarOptions {
  model: DashboardModel;
  /** Open (or reveal) a pane beside the notebook. */
  open: (title: string, route: string) => void;
  /** A new, tracked pane widget, for dropping where the user drags it. */
  create: (title: string, route: string) => Widget;
  clusters: Widget;
}

export class ShoalSidebar extends Panel {
  constructor(options: ISidebarOptions) {
    super();
    this._options = options;
    this.id = 'shoal-sidebar';
    this.title.icon = shoalIcon;
    this.title.caption = 'shoal dashboard';
    this.addClass('shoal-Sidebar');

    const top = new Widget();
    top.addClass('shoal-Sidebar-dashboard');
    top.node.innerHTML = `
      <header class="shoal-Sidebar-header">Dashboard</header>
      <form class="shoal-Sidebar-url">
        <input class="jp-mod-styled" type="text" spellcheck="false"
               placeholder="found by itself, or a URL"
               title="The dashboard whose panes are listed: found from the notebook's kernel by itself, or type a dashboard URL"
               aria-label="Dashboard URL" />
        <button class="jp-mod-styled jp-mod-accept" type="submit">Show</button>
      </form>
      <div class="shoal-Sidebar-status"></div>
      <ul class="shoal-Sidebar-panes" aria-label="Dashboard panes"></ul>`;
    this._input = top.node.querySelector('input')!;
    this._status = top.node.querySelector('.shoal-Sidebar-status')!;
    this._list = top.node.querySelector('ul')!;
    top.node.querySelector('form')!.addEventListener('submit', event => {
      event.preventDefault();
      void options.model.setUrl(this._input.value, 'user');
    });
    this.addWidget(top);
    this.addWidget(options.clusters);
    options.model.changed.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    this._options.model.changed.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const { model } = this._options;
    if (document.activeElement !== this._input) {
      this._input.value = model.label;
    }
    this._status.textContent = statusText(model);
    this._status.classList.toggle('shoal-mod-inactive', !model.active);
    this._list.textContent = '';
    if (!model.active) {
      return;
    }
    for (const [title, route] of Object.entries(model.panes)) {
      const item = document.createElement('li');
      item.className = 'shoal-Sidebar-pane';
      item.textContent = title;
      item.title = `Open ${title} beside the notebook (or drag it anywhere)`;
      item.dataset.route = route;
      item.tabIndex = 0; // (reached with Tab; Enter or Space opens it, as a click does)
      item.setAttribute('role', 'button');
      item.addEventListener('mousedown', event => this._press(event, title, route));
      onActivateKey(item, () => this._options.open(title, route));
      this._list.appendChild(item);
    }
  }

  /** A click opens the pane; a press moved past the threshold drags it. */
  private _press(event: MouseEvent, title: string, route: string): void {
    if (event.button !== 0) {
      return;
    }
    event.preventDefault();
    const [x0, y0] = [event.clientX, event.clientY];
    const move = (e: MouseEvent) => {
      if (Math.abs(e.clientX - x0) + Math.abs(e.clientY - y0) < DRAG_THRESHOLD) {
        return;
      }
      done();
      const mimeData = new MimeData();
      mimeData.setData(FACTORY_MIME, () => this._options.create(title, route));
      const image = document.createElement('div');
      image.className = 'shoal-Sidebar-dragImage';
      image.textContent = title;
      const drag = new Drag({ mimeData, dragImage: image, proposedAction: 'copy', supportedActions: 'copy' });
      void drag.start(e.clientX, e.clientY);
    };
    const up = () => {
      done();
      this._options.open(title, route);
    };
    const done = () => {
      document.removeEventListener('mousemove', move, true);
      document.removeEventListener('mouseup', up, true);
    };
    document.addEventListener('mousemove', move, true);
    document.addEventListener('mouseup', up, true);
  }

  private _options: ISidebarOptions;
  private _input: HTMLInputElement;
  private _status: HTMLElement;
  private _list: HTMLElement;
}

/** Run `action` when Enter or Space is pressed on `element` (a keyboard's click). */
export function onActivateKey(element: HTMLElement, action: () => void): void {
  element.addEventListener('keydown', event => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      action();
    }
  });
}

function statusText(model: DashboardModel): string {
  if (!model.label) {
    return 'No dashboard yet: run Client() or Dashboard() in a notebook, or start a cluster below.';
  }
  if (!model.active) {
    return 'Not answering (yet?). Panes come back when it does.';
  }
  const from = {
    kernel: "this notebook's kernel",
    'closed-notebook': 'the kernel of a notebook no longer open',
    'other-kernel': "another notebook's kernel (this notebook's has none yet)",
    cluster: 'a cluster started here',
    user: 'the URL above',
    restored: 'the last session'
  }[model.source ?? 'user'];
  return `Panes of the dashboard of ${from}:`;
}
