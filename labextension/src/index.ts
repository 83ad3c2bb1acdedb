/**
 * shoal-lab: the dashboard's panes beside the notebook.
 *
 *   sidebar (URL box, panes, clusters) --> DashboardModel <-- follow(): the active
 *        | click / drag                      | changed        notebook's kernel ->
 *        v                                   v                GET shoal/dashboards?kernel=
 *   DashboardPane (iframe, tracked, restored after a reload)
 *
 * Everything is HTTP/JSON against the server extension; nothing is drawn here.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IThemeManager,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Poll } from '@lumino/polling';
import { DockLayout } from '@lumino/widgets';

import { DashboardModel, ICluster, IDashboard, request } from './api';
import { ClusterList } from './clusters';
import { DashboardPane } from './pane';
import { ShoalSidebar } from './sidebar';

const PLUGIN = 'shoal-lab:plugin';
const STATE_KEY = 'shoal-lab:dashboard';
namespace CommandIDs {
  export const open = 'shoal:open-pane';
  export const layout = 'shoal:launch-layout';
}

type Layout = { [title: string]: { mode?: DockLayout.InsertMode; ref?: string | null } };

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN,
  description: "shoal's dashboard panes beside the notebook",
  autoStart: true,
  requires: [INotebookTracker, ISettingRegistry],
  optional: [ILayoutRestorer, ICommandPalette, IStateDB, IThemeManager],
  activate
};

function activate(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker,
  registry: ISettingRegistry,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null,
  state: IStateDB | null,
  themes: IThemeManager | null
): void {
  const model = new DashboardModel();
  // the panes in the lab's look (a theme not known yet, or light: Bokeh's own)
  const followTheme = () => {
    const theme = themes?.theme;
    model.theme = theme && !themes.isLight(theme) ? 'dark' : 'light';
  };
  themes?.themeChanged.connect(followTheme);
  followTheme();
  const tracker = new WidgetTracker<DashboardPane>({ namespace: 'shoal-dashboard' });
  let autoDetect = true;
  let layout: Layout = {};

  const create = (title: string, route: string): DashboardPane => {
    const pane = new DashboardPane(model, title, route);
    void tracker.add(pane);
    return pane;
  };
  const open = (title: string, route: string, mode?: DockLayout.InsertMode, ref?: string) => {
    const existing = tracker.find(w => w.route === route);
    if (existing) {
      app.shell.activateById(existing.id);
      return existing;
    }
    const last = [...tracker.filter(() => true)].pop();
    const anchor = ref ?? (last ?? notebooks.currentWidget)?.id;
    const pane = create(title, route);
    app.shell.add(pane, 'main', {
      mode: mode ?? (last ? 'tab-after' : 'split-right'),
      ref: anchor
    });
    return pane;
  };

  app.commands.addCommand(CommandIDs.open, {
    label: args => (args.title as string) ?? 'Open a dashboard pane',
    execute: args =>
      open(args.title as string, args.route as string, args.mode as DockLayout.InsertMode)
  });
  app.commands.addCommand(CommandIDs.layout, {
    label: 'Launch shoal dashboard layout',
    caption: 'Open task stream, progress and workers memory beside the notebook',
    execute: async () => {
      const notOurs = () => model.source === 'other-kernel' || model.source === 'closed-notebook';
      if (!model.active || notOurs()) {
        await follow(); // (a Client run in this notebook since the last poll)
      }
      if (!model.active || notOurs()) {
        Notification.warning(
          "This notebook's kernel has no shoal dashboard yet: run Client() in it first."
        );
        return;
      }
      const opened: { [title: string]: string } = {};
      for (const [title, place] of Object.entries(layout)) {
        const route = model.panes[title];
        if (route) {
          const ref = place.ref ? opened[place.ref] : notebooks.currentWidget?.id;
          opened[title] = open(title, route, place.mode, ref).id;
        }
      }
    }
  });
  palette?.addItem({ command: CommandIDs.layout, category: 'shoal' });

  // --- following the active notebook's kernel --------------------------------------
  // A notebook whose kernel has no dashboard keeps the panes of the last one found
  // (another notebook's: still worth watching), labelled as such ('other-kernel').
  // The notebook shown in the main area when there is one (activated by a tab click or a
  // command: focus events, which the tracker's current widget waits for, may not come),
  // else the last one the user worked in (while a pane or the file browser has focus).
  const currentNotebook = () => {
    const shown = app.shell.currentWidget;
    return shown && notebooks.has(shown)
      ? (shown as typeof notebooks.currentWidget)
      : notebooks.currentWidget;
  };
  let detected = '';
  let listed = ''; // the kernel's dashboard process the last call found ('': none)
  const kernels = (source: string | null) =>
    source === 'kernel' || source === 'other-kernel' || source === 'closed-notebook';
  async function follow(): Promise<void> {
    const notebook = currentNotebook();
    if (!autoDetect) {
      return;
    }
    if (!notebook) {  // (every notebook closed: its kernel, and its dashboard, may still run)
      if (model.source === 'kernel' || model.source === 'other-kernel') {
        model.relabel('closed-notebook');
      }
      return;
    }
    const kernel = notebook.sessionContext.session?.kernel;
    if (!kernel) {
      return;
    }
    const query = 'dashboards?kernel=' + encodeURIComponent(kernel.id);
    const { dashboards } = await request<{ dashboards: IDashboard[] }>(query);
    if (currentNotebook()?.sessionContext.session?.kernel !== kernel) {
      return; // the user moved on meanwhile: the next call answers for that notebook
    }
    const newest = dashboards[dashboards.length - 1];
    const process = newest ? `${newest.pid} ${newest.url}` : '';
    const changed = process !== listed;
    listed = process;
    // A cluster picked in the sidebar is kept while it answers; once it stops (shut down:
    // two checks in a row unanswered, so a dashboard restarting is not dropped) the
    // kernel's own dashboard comes back (the sidebar stayed on the dead one), as it does
    // for the last session's and another kernel's.  A typed URL stays: the user asked
    // for it, and it may not answer yet (a tunnel being opened).
    const gone = model.misses >= 2 && model.source !== 'kernel' && model.source !== 'user';
    if (newest && (newest.url !== detected || gone)) {
      detected = newest.url;
      await model.setUrl(newest.url, 'kernel', newest.link ?? newest.url);
      return;
    }
    if (newest && kernels(model.source) && model.source !== 'kernel') {
      model.relabel('kernel');
    } else if (!newest && (model.source === 'kernel' || model.source === 'closed-notebook')) {
      model.relabel('other-kernel');
    }
    // The kernel's dashboard came back at the same address (another process: a new Client
    // or Dashboard() on the default port), or went: check the panes once, now, not at the
    // next periodic check (up to 6 s: a short computation was over before they showed it).
    if (changed && kernels(model.source)) {
      await model.refresh();
    }
  }
  notebooks.currentChanged.connect(() => void follow().catch(() => undefined));

  const clusters = new ClusterList({
    select: (cluster: ICluster) =>
      void model.setUrl(cluster.url ?? '', 'cluster', cluster.dashboard_link ?? ''),
    insert: (code: string) => {
      const notebook = notebooks.currentWidget?.content;
      if (!notebook) {
        Notification.warning('Open a notebook first.');
        return;
      }
      NotebookActions.insertBelow(notebook);
      notebook.activeCell?.model.sharedModel.setSource(code);
    }
  });
  const sidebar = new ShoalSidebar({ model, open, create, clusters });
  app.shell.add(sidebar, 'left', { rank: 250 });

  let tick = 0;
  const poll = new Poll({
    factory: async () => {
      tick += 1;
      await follow();
      if (tick % 3 === 0) {
        await model.refresh();
      }
      if (sidebar.isVisible && tick % 3 === 1) {
        await clusters.refresh();
      }
    },
    frequency: { interval: 2000, backoff: false, max: 2000 },
    standby: 'when-hidden'
  });
  app.restored.then(() => poll.refresh()).catch(() => undefined);

  // --- settings, state, restoration -------------------------------------------------
  const apply = (settings: ISettingRegistry.ISettings) => {
    autoDetect = settings.get('autoDetect').composite as boolean;
    layout = settings.get('defaultLayout').composite as Layout;
  };
  registry
    .load(PLUGIN)
    .then(settings => {
      apply(settings);
      settings.changed.connect(apply);
      const url = settings.get('defaultURL').composite as string;
      if (url && !model.label) {
        void model.setUrl(url, 'user');
      }
    })
    .catch(reason => console.warn('shoal-lab: settings not loaded', reason));
  if (state) {
    // the state database answers only once the app has started: never await it here
    void app.restored.then(async () => {
      const saved = (await state.fetch(STATE_KEY)) as ReadonlyPartialJSONObject | undefined;
      if (saved?.url && !model.label) {
        await model.setUrl(saved.url as string, 'restored', saved.label as string);
      }
      model.changed.connect(() => {
        if (model.active) {
          void state.save(STATE_KEY, { url: model.url, label: model.label });
        }
      });
    });
  }
  if (restorer) {
    restorer.add(sidebar, 'shoal-sidebar');
    void restorer.restore(tracker, {
      command: CommandIDs.open,
      args: pane => ({ title: pane.paneTitle, route: pane.route }),
      name: pane => pane.route
    });
  }
}

export default plugin;
