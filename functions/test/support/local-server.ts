import type { Server, ServerResponse } from 'node:http';

/** A test's HTTP server, listening on a free port of 127.0.0.1. */
export interface LocalServer {
  readonly url: string;
  /** Ends the responses still held (never answered), drops every connection and closes the server. */
  stop(): Promise<void>;
}

/**
 * Starts `server` on a free port of 127.0.0.1. `held` is where the server keeps the responses it
 * chose never to answer: `stop` ends them, so that closing the server does not wait on them.
 */
export async function listenLocally(server: Server, held: ServerResponse[] = []): Promise<LocalServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
