// Skeleton while a VM page loads.
export default function VmLoading() {
  return (
    <div aria-busy="true" aria-label="Loading VM" className="animate-pulse space-y-4">
      <div className="h-4 w-40 rounded bg-slate-200 dark:bg-slate-800" />
      <div className="h-8 w-72 rounded bg-slate-200 dark:bg-slate-800" />
      <div className="grid gap-6 lg:grid-cols-3">
        <div className="h-64 rounded-lg bg-slate-200 lg:col-span-2 dark:bg-slate-800" />
        <div className="h-64 rounded-lg bg-slate-200 dark:bg-slate-800" />
      </div>
    </div>
  );
}
