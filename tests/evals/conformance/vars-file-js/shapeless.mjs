export default async () => ({ text: 'no output key' });
