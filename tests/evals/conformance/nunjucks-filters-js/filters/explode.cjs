module.exports = (value) => { if (value === 'boom') throw new Error('filter exploded'); return value; };
