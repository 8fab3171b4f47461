interface Context { vars: Record<string, string> }
export function shout({ vars }: Context): string {
  return `${vars.topic.toUpperCase()}!`;
}
export default (ctx: Context): string => `default ${ctx.vars.topic}`;
