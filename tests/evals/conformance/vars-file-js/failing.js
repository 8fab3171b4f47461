module.exports = () => ({ error: 'no topic today' });
