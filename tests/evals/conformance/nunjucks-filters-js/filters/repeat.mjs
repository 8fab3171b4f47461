export default function (value, times, sep) {
  return Array.from({ length: times ?? 2 }, () => value).join(sep ?? ' ');
}
