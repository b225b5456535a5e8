// A free TCP port on loopback for a server a test (or the bench) starts: bind port 0, read it, release.
// Racy in theory; in practice the server binds within milliseconds and the kernel does not hand the
// same port out again that fast.
import net from "node:net";

export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
