module.exports = ({ vars }) => {
  return `unterminated ${vars.topic}`
