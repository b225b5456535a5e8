// The <option>s of a <select> that picks one object by id, labelled with its name (hosts, VMs). The
// select's own "any"/"all" choice, when it has one, stays in the caller's markup before these.
export function NamedOptions({ items }: { items: ReadonlyArray<{ id: string; name: string }> }) {
  return (
    <>
      {items.map((item) => (
        <option key={item.id} value={item.id}>
          {item.name}
        </option>
      ))}
    </>
  );
}
