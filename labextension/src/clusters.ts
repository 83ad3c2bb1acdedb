/**
 * The cluster list: LocalClusters that live in the Jupyter server
 * (`shoal/clusters` on the server side), started, scaled and shut down from
 * here.  Picking one shows its dashboard; "Client" inserts the code that
 * connects the active notebook to it.
 */
import { InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ICluster, request } from './api';
import { onActivateKey } from './sidebar';

export interface IClusterListOptions {
  /** Show this cluster's dashboard in the sidebar and panes. */
  select: (cluster: ICluster) => void;
  /** Insert a cell with this code into the active notebook. */
  insert: (code: string) => void;
}

export class ClusterList extends Widget {
  constructor(options: IClusterListOptions) {
    super();
    this._options = options;
    this.addClass('shoal-ClusterList');
    this.node.innerHTML = `
      <header class="shoal-Sidebar-header">Clusters
        <button class="jp-mod-styled shoal-ClusterList-new" title="Start a LocalCluster in the Jupyter server">+ New</button>
      </header>
      <ul class="shoal-ClusterList-items"></ul>`;
    this._list = this.node.querySelector('ul')!;
    const add = this.node.querySelector('button')!;
    add.addEventListener('click', () => this._run(add, () => this._start()));
  }

  /** Fetch the list again (polled by the plugin while the sidebar shows). */
  async refresh(): Promise<void> {
    const { clusters } = await request<{ clusters: ICluster[] }>('clusters');
    this._render(clusters);
  }

  private async _start(): Promise<void> {
    const cluster = await request<ICluster>('clusters', 'POST', {});
    this._options.select(cluster);
    await this.refresh();
  }

  private async _scale(cluster: ICluster): Promise<void> {
    const answer = await InputDialog.getNumber({
      title: `Scale ${cluster.name}`,
      label: 'Number of workers',
      value: cluster.workers
    });
    if (answer.button.accept && answer.value !== null && answer.value >= 0) {
      await request(`clusters/${cluster.id}`, 'PATCH', { workers: Math.round(answer.value) });
      await this.refresh();
    }
  }

  private async _shutdown(cluster: ICluster): Promise<void> {
    await request(`clusters/${cluster.id}`, 'DELETE');
    await this.refresh();
  }

  private _render(clusters: ICluster[]): void {
    this._list.textContent = '';
    if (!clusters.length) {
      const empty = document.createElement('li');
      empty.className = 'shoal-ClusterList-empty';
      empty.textContent = 'None started here.';
      this._list.appendChild(empty);
    }
    for (const cluster of clusters) {
      const item = document.createElement('li');
      item.className = 'shoal-ClusterList-item';
      item.dataset.id = cluster.id;
      const memory = cluster.memory ? ` · ${(cluster.memory / 2 ** 30).toFixed(1)} GiB` : '';
      item.innerHTML = `
        <div class="shoal-ClusterList-name" title="Show its dashboard"></div>
        <div class="shoal-ClusterList-info"></div>
        <div class="shoal-ClusterList-actions">
          <button class="jp-mod-styled" data-action="scale">Scale</button>
          <button class="jp-mod-styled" data-action="client" title="Insert client = Client(...) into the notebook">Client</button>
          <button class="jp-mod-styled jp-mod-warn" data-action="shutdown">Shut down</button>
        </div>`;
      const name = item.querySelector<HTMLElement>('.shoal-ClusterList-name')!;
      name.textContent = cluster.name;
      name.tabIndex = 0;
      name.setAttribute('role', 'button');
      onActivateKey(name, () => this._options.select(cluster));
      item.querySelector('.shoal-ClusterList-info')!.textContent =
        `${cluster.workers} workers · ${cluster.threads} threads${memory} · ${cluster.scheduler_address}`;
      name.addEventListener('click', () => this._options.select(cluster));
      const actions: { [name: string]: () => Promise<void> } = {
        scale: () => this._scale(cluster),
        client: async () => this._options.insert(clientCode(cluster)),
        shutdown: () => this._shutdown(cluster)
      };
      item.querySelectorAll('button').forEach(button =>
        button.addEventListener('click', () =>
          this._run(button, actions[button.dataset.action!])
        )
      );
      this._list.appendChild(item);
    }
  }

  /** Run an action with its button disabled; errors go to a dialog, not the console. */
  private async _run(button: HTMLButtonElement, action: () => Promise<void>): Promise<void> {
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      void showErrorMessage('shoal', err as Error);
    } finally {
      button.disabled = false;
    }
  }

  private _options: IClusterListOptions;
  private _list: HTMLElement;
}

export function clientCode(cluster: ICluster): string {
  return (
    'from shoal.distributed import Client\n\n' +
    `client = Client(${JSON.stringify(cluster.scheduler_address)})\nclient`
  );
}
