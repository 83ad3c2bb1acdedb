import { LabIcon } from '@jupyterlab/ui-components';

// three fish: a shoal
const fish = (x: number, y: number) =>
  `<ellipse cx="${x}" cy="${y}" rx="4.6" ry="2.7"/>` +
  `<path d="M${x + 3.6} ${y}l3.8-2.9v5.8z"/>`;

const svg =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">' +
  `<g class="jp-icon3" fill="#616161">${fish(6, 5.5)}${fish(12.5, 12)}${fish(5, 18.5)}</g></svg>`;

export const shoalIcon = new LabIcon({ name: 'shoal-lab:shoal', svgstr: svg });
