/**
 * One dashboard pane in the main area: an iframe showing `<dashboard>/<route>`.
 *
 * The pane follows the model: when the sidebar switches dashboards (another
 * notebook's kernel, a URL typed, a cluster picked) every open pane reloads
 * from the new one, and when the lab's theme turns dark or light, in that look;
 * while no dashboard answers it says so instead.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IFrame } from '@jupyterlab/ui-components';

import { DashboardModel, paneUrl } from './api';
import { shoalIcon } from './icon';

export class DashboardPane extends MainAreaWidget<IFrame> {
  constructor(model: DashboardModel, paneTitle: string, route: string) {
    const content = new IFrame({
      sandbox: ['allow-scripts', 'allow-same-origin', 'allow-popups'],
      referrerPolicy: 'same-origin'
    });
    super({ content });
    this.model = model;
    this.paneTitle = paneTitle;
    this.route = route;
    this.id = DashboardPane.idFor(route);
    this.title.label = paneTitle;
    this.title.icon = shoalIcon;
    this.title.closable = true;
    this.addClass('shoal-DashboardPane');
    this._placeholder.className = 'shoal-DashboardPane-inactive';
    this.content.node.appendChild(this._placeholder);
    this._placeholder.textContent =
      'No dashboard: create a Client or a Dashboard() in the notebook, ' +
      'or enter a dashboard URL in the shoal sidebar.';
    this.toolbar.hide();
    model.changed.connect(this._render, this);
    this._render();
  }

  readonly model: DashboardModel;
  readonly paneTitle: string;
  readonly route: string;

  static idFor(route: string): string {
    return 'shoal-pane' + route.replace(/[^A-Za-z0-9_-]/g, '-');
  }

  dispose(): void {
    this.model.changed.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const { url, active, theme } = this.model;
    if (active && url) {
      const src = paneUrl(url, this.route, theme);
      if (this.content.url !== src) {
        this.content.url = src;
      }
    } else {
      this.content.node.querySelector('iframe')?.removeAttribute('src');
    }
    this._placeholder.hidden = active && !!url;
  }

  private _placeholder = document.createElement('div');
}
