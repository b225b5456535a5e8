// The <th>s of a table's header row from their labels, all in one style (`className`); a header cell
// without a label (an actions column) stays in the caller's markup after these.
export function HeaderCells({ labels, className }: { labels: readonly string[]; className: string }) {
  return (
    <>
      {labels.map((label) => (
        <th key={label} className={className}>
          {label}
        </th>
      ))}
    </>
  );
}
