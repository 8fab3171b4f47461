export default (value: string): number => value.length;
