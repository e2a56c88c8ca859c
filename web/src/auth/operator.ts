/**
 * Who acts on alerts from this tab: the admin token once entered, and the name last given. Held in
 * memory only, never in storage or the address: the admin token may change anything, where the read
 * token kept in localStorage may only look, and a wall screen is left open for anyone to use. A
 * reload asks again. The app holds one for the tab, so both outlive a change of page.
 */
export class Operator {
  adminToken: string | null = null;
  /** Prefills the next action's "by". */
  name = '';
}
