export default class LengthProvider {
  constructor(private options: { id: string }) {}
  id(): string {
    return this.options.id;
  }
  async callApi(prompt: string): Promise<{ output: string }> {
    return { output: `${prompt} has ${prompt.length} characters` };
  }
}
