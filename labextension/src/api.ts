/**
 * The server extension's REST API (shoal/lab in Python) and the dashboard model.
 *
 * The front end knows dashboards only through HTTP/JSON: a dashboard is the
 * URL to embed (usually `shoal/proxy/<port>/`, relative to Jupyter's base URL)
 * and its panes (`panes.json`: title -> route), both answered by the server.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

export type Panes = { [title: string]: string };

export interface IDashboard {
  pid: number;
  port: number;
  link: string | null;
  scheduler: string | null;
  kernel: string | null;
  url: string;
}

export interface ICluster {
  id: string;
  name: string;
  scheduler_address: string;
  dashboard_link: string | null;
  url: string | null;
  workers: number;
  threads: number;
  memory: number | null;
}

/** A call to `<base>/shoal/<path>`; JSON in and out. */
export async function request<T>(
  path: string,
  method = 'GET',
  body?: unknown
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'shoal', path);
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
  }
  const response = await ServerConnection.makeRequest(url, init, settings);
  if (!response.ok) {
    throw await ServerConnection.ResponseError.create(response);
  }
  return response.status === 204 ? (undefined as T) : response.json();
}

/** An embeddable URL as an iframe wants it (relative ones start at Jupyter's base). */
export function absolute(url: string): string {
  if (/^[a-z]+:\/\//i.test(url) || url.startsWith('/')) {
    return url;
  }
  return URLExt.join(PageConfig.getBaseUrl(), url);
}

/** Where the sidebar's dashboard came from ('other-kernel': the kernel of a notebook
 * that was active before; the active one's kernel has none; 'closed-notebook': no notebook
 * is open, and its kernel's dashboard stays shown: the kernel may still run). */
export type Source =
  | 'user'
  | 'kernel'
  | 'other-kernel'
  | 'closed-notebook'
  | 'cluster'
  | 'restored';

/** A pane's look, as the dashboard's pages spell it (`?theme=dark`). */
export type Theme = 'light' | 'dark';

/** A pane's address: the dashboard's `url` and the pane's `route`, in the `theme`'s look. */
export function paneUrl(url: string, route: string, theme: Theme): string {
  const src = absolute(url) + route.replace(/^\//, '');
  return theme === 'dark' ? src + (src.includes('?') ? '&' : '?') + 'theme=dark' : src;
}

/** The dashboard the sidebar and every open pane show. */
export class DashboardModel {
  get url(): string {
    return this._url;
  }
  get panes(): Panes {
    return this._panes;
  }
  /** Whether the dashboard answered the last check. */
  get active(): boolean {
    return this._active;
  }
  /** How many checks of this URL in a row it did not answer (0 while its first check
   * is on the way: `active` is still the last URL's then). */
  get misses(): number {
    return this._misses;
  }
  /** What the user sees in the URL box: the link as typed or as the kernel prints it. */
  get label(): string {
    return this._label;
  }
  get source(): Source | null {
    return this._source;
  }
  get changed(): ISignal<this, void> {
    return this._changed;
  }
  /** The panes' look: the lab's theme, light or dark (the dashboard draws either). */
  get theme(): Theme {
    return this._theme;
  }
  set theme(theme: Theme) {
    if (theme !== this._theme) {
      this._theme = theme;
      this._changed.emit();
    }
  }

  /** Show the dashboard at `url` (anything a user may type; the server normalises it). */
  async setUrl(url: string, source: Source, label?: string): Promise<void> {
    this._relabelled ||= source !== this._source || (label ?? url) !== this._label;
    this._source = source;
    this._label = label ?? url;
    this._requested = url;
    this._misses = 0;
    if (!url.trim()) {
      this._update('', {}, false);
      return;
    }
    await this._check(url);
  }

  /** Say the same dashboard comes from elsewhere now (see `Source`). */
  relabel(source: Source): void {
    if (source !== this._source) {
      this._source = source;
      this._changed.emit();
    }
  }

  /** Check the current dashboard again (it may have gone, or come back). */
  async refresh(): Promise<void> {
    if (this._requested.trim()) {
      await this._check(this._requested);
    }
  }

  private async _check(url: string): Promise<void> {
    const query = 'panes?url=' + encodeURIComponent(url);
    let answer: { url: string; panes: Panes | null };
    try {
      answer = await request(query);
    } catch (err) {
      answer = { url: this._url, panes: null };
    }
    if (url === this._requested) {
      this._misses = answer.panes === null ? this._misses + 1 : 0;
      this._update(answer.url, answer.panes || this._panes, answer.panes !== null);
    }
  }

  private _update(url: string, panes: Panes, active: boolean): void {
    const same =
      url === this._url &&
      active === this._active &&
      JSON.stringify(panes) === JSON.stringify(this._panes);
    this._url = url;
    this._panes = panes;
    this._active = active;
    if (!same || this._relabelled) {
      this._relabelled = false;
      this._changed.emit();
    }
  }

  private _url = '';
  private _requested = '';
  private _label = '';
  private _relabelled = false;
  private _panes: Panes = {};
  private _active = false;
  private _misses = 0;
  private _source: Source | null = null;
  private _theme: Theme = 'light';
  private _changed = new Signal<this, void>(this);
}
