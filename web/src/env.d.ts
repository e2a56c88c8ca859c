/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Build-time API address for a dashboard hosted apart from the API; empty means same origin. */
  readonly VITE_API_BASE?: string;
}
