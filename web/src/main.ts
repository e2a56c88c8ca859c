/** Start-up: picks the API address, adopts a token from the address bar, and starts the app. */

import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { chooseApiBase, SAVED_API_BASE_KEY } from './api/base';
import { App } from './app';
import { takeTokenFromFragment, TokenStore } from './auth/token';
import { loadSetting, saveSetting } from './settings';
import { Shell } from './views/shell';

const apiBase = chooseApiBase(location.search, loadSetting(SAVED_API_BASE_KEY), import.meta.env.VITE_API_BASE);
if (apiBase.remember !== undefined) saveSetting(SAVED_API_BASE_KEY, apiBase.remember);

const tokens = new TokenStore();
const fromFragment = takeTokenFromFragment(location.hash);
if (fromFragment.token) {
  tokens.set(fromFragment.token);
  // Out of the visible address (and its history entry), so it is not shared by a screenshot or a bookmark.
  history.replaceState(history.state, '', `${location.pathname}${location.search}${fromFragment.rest}`);
}

const root = document.getElementById('app');
if (!root) throw new Error('index.html has no #app element');
new App(new Shell(root), apiBase.base, tokens).start();
